package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/chtest"
)

// TestDemoRefusesADatabaseItDidNotCreate: `driftwatch demo --database X`
// used to drop X before any check. It now drops only a database it created
// (its marker table) or an empty one, and never the server's own.
func TestDemoRefusesADatabaseItDidNotCreate(t *testing.T) {
	s, addr, db := chtest.Open(t, "dw_demo_db", false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Exec(ctx, "CREATE TABLE "+db+".precious (x UInt8) ENGINE = TinyLog"); err != nil {
		t.Fatal(err)
	}
	err := resetDatabase(ctx, addr, db)
	if err == nil || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("a database with other tables: %v", err)
	}
	if n := queryCount(s, "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = 'precious'"); n != 1 {
		t.Fatal("the foreign table was dropped")
	}
	for _, name := range []string{"default", "system", "a;DROP", "1x"} {
		if err := resetDatabase(ctx, addr, name); err == nil {
			t.Errorf("--database %q accepted", name)
		}
	}
	// An empty database, then the demo's own, are reset.
	if err := s.Exec(ctx, "DROP TABLE "+db+".precious"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := resetDatabase(ctx, addr, db); err != nil {
			t.Fatalf("resetting the demo's database: %v", err)
		}
	}
	if n := queryCount(s, "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = '"+demoMarker+"'"); n != 1 {
		t.Fatal("no marker after a reset")
	}
}
