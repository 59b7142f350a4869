package storage

import (
	"strings"
	"testing"
)

func TestExec(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	if err := s.Exec(ctx, "CREATE TABLE scratch (x UInt8) ENGINE = Memory"); err != nil {
		t.Fatalf("Exec(CREATE TABLE) = %v", err)
	}
	if err := s.Exec(ctx, "INSERT INTO scratch (x) SELECT number FROM system.numbers LIMIT 3"); err != nil {
		t.Fatalf("Exec(INSERT ... SELECT) = %v", err)
	}
	if n := queryInt(t, s, "SELECT sum(x) FROM scratch"); n != 3 {
		t.Fatalf("sum(x) = %d, want 3", n)
	}
	err := s.Exec(ctx, "DROP TABLE no_such_table")
	if err == nil || !strings.Contains(err.Error(), `executing "DROP TABLE no_such_table"`) {
		t.Fatalf("Exec(DROP TABLE missing) = %v, want an error naming the statement", err)
	}
}
