package storage

import (
	"context"
	"fmt"
)

// Exec runs one statement that returns no rows (DDL such as DROP DATABASE of
// a demo database). It is not retried. Write rows with the typed writers: on ClickHouse
// 18.16 an INSERT ... VALUES sent through Exec does not return until ctx ends (INSERT ... SELECT works).
func (s *Store) Exec(ctx context.Context, sql string, args ...any) error {
	if err := s.conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("executing %q: %w", sql, err)
	}
	return nil
}
