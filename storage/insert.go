package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/internal/backoff"
)

// field maps a Go row type R to one column of a table. The same list drives both the INSERT's column
// list and the values appended, so the two cannot drift apart.
type field[R any] interface {
	column() string
	// slice returns the column's values for rows as a typed slice ([]string, []uint64, ...).
	slice(rows []R) any
	// value returns the column's value for one row.
	value(r *R) any
}

type typedField[R, T any] struct {
	name string
	get  func(*R) T
}

func (f typedField[R, T]) column() string { return f.name }

func (f typedField[R, T]) slice(rows []R) any {
	out := make([]T, len(rows))
	for i := range rows {
		out[i] = f.get(&rows[i])
	}
	return out
}

func (f typedField[R, T]) value(r *R) any { return f.get(r) }

// fieldOf declares that column name holds get(row).
func fieldOf[R, T any](name string, get func(*R) T) field[R] {
	return typedField[R, T]{name: name, get: get}
}

// insertStatement returns "INSERT INTO table (a, b, ...)" for fields.
func insertStatement[R any](table string, fields []field[R]) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.column()
	}
	return fmt.Sprintf("INSERT INTO %s (%s)", table, strings.Join(names, ", "))
}

// insert writes rows into table as one columnar batch, retrying until it succeeds, fails permanently
// or ctx ends. It records the insert metrics.
func insert[R any](ctx context.Context, s *Store, table string, fields []field[R], rows []R) error {
	if len(rows) == 0 {
		return nil
	}
	what := fmt.Sprintf("inserting %d rows into %s", len(rows), table)
	return s.retry(ctx, what, func(ctx context.Context) error {
		start := time.Now()
		err := insertColumns(ctx, s, table, fields, rows)
		s.metrics.insertDuration.WithLabelValues(table).Observe(time.Since(start).Seconds())
		if err != nil {
			s.metrics.insertErrors.WithLabelValues(table).Inc()
			return err
		}
		s.metrics.insertRows.WithLabelValues(table).Add(float64(len(rows)))
		return nil
	})
}

// insertColumns sends rows in one INSERT, appending each column as a whole slice.
func insertColumns[R any](ctx context.Context, s *Store, table string, fields []field[R], rows []R) error {
	batch, err := s.conn.PrepareBatch(ctx, insertStatement(table, fields))
	if err != nil {
		return err
	}
	defer batch.Close()
	for i, f := range fields {
		if err := batch.Column(i).Append(f.slice(rows)); err != nil {
			return backoff.Permanent(fmt.Errorf("appending column %s: %w", f.column(), err))
		}
	}
	return batch.Send()
}

// insertRowwise sends rows in one INSERT, appending row by row. It is kept for the benchmark that
// compares it with insertColumns.
func insertRowwise[R any](ctx context.Context, s *Store, table string, fields []field[R], rows []R) error {
	batch, err := s.conn.PrepareBatch(ctx, insertStatement(table, fields))
	if err != nil {
		return err
	}
	defer batch.Close()
	values := make([]any, len(fields))
	for i := range rows {
		for j, f := range fields {
			values[j] = f.value(&rows[i])
		}
		if err := batch.Append(values...); err != nil {
			return backoff.Permanent(fmt.Errorf("appending row %d: %w", i, err))
		}
	}
	return batch.Send()
}
