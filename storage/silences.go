package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// SilenceRow is one version of a silence in silences: the row written when
// it was added, and a later one when it was expired early. The newest
// version of an id (largest Version) is the silence's state.
type SilenceRow struct {
	ID        string    // random, 16 hex digits (NewSilenceID)
	Matchers  []string  // as written on the command line, e.g. "model_id=fraud-*"; all must match
	StartsAt  time.Time // silences from here (inclusive)
	EndsAt    time.Time // to here (exclusive); an expired silence ends when it was expired
	CreatedBy string    // who added it
	Comment   string    // why
	CreatedAt time.Time // when it was added
	Expired   bool      // expired early ('driftwatch silence expire')
	ExpiredBy string    // who expired it, "" when not expired
	UpdatedAt time.Time // when this version was written
	Version   uint64    // the version's order: UpdatedAt in nanoseconds at the write
}

// ActiveAt reports whether the silence silences at t.
func (r *SilenceRow) ActiveAt(t time.Time) bool {
	return !r.Expired && !t.Before(r.StartsAt) && t.Before(r.EndsAt)
}

// EndedAt reports whether the silence is over at t: expired, or past its end.
func (r *SilenceRow) EndedAt(t time.Time) bool { return r.Expired || !t.Before(r.EndsAt) }

var silenceFields = []field[SilenceRow]{
	fieldOf("id", func(r *SilenceRow) string { return r.ID }),
	fieldOf("matchers", func(r *SilenceRow) []string { return r.Matchers }),
	fieldOf("starts_at", func(r *SilenceRow) time.Time { return r.StartsAt }),
	fieldOf("ends_at", func(r *SilenceRow) time.Time { return r.EndsAt }),
	fieldOf("created_by", func(r *SilenceRow) string { return r.CreatedBy }),
	fieldOf("comment", func(r *SilenceRow) string { return r.Comment }),
	fieldOf("created_at", func(r *SilenceRow) time.Time { return r.CreatedAt }),
	fieldOf("expired", func(r *SilenceRow) uint8 {
		if r.Expired {
			return 1
		}
		return 0
	}),
	fieldOf("expired_by", func(r *SilenceRow) string { return r.ExpiredBy }),
	fieldOf("updated_at", func(r *SilenceRow) time.Time { return r.UpdatedAt }),
	fieldOf("version", func(r *SilenceRow) uint64 { return r.Version }),
}

// ErrSilenceNotFound is returned by ExpireSilence for an id that no silence has.
var ErrSilenceNotFound = errors.New("no such silence")

// NewSilenceID returns a random silence id of 16 hex digits.
func NewSilenceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// AddSilence stores a new silence. An empty ID gets NewSilenceID; zero
// CreatedAt and StartsAt get the time of the call (DateTime precision). It
// returns the row stored.
func (s *Store) AddSilence(ctx context.Context, r SilenceRow) (SilenceRow, error) {
	t := now()
	if r.ID == "" {
		r.ID = NewSilenceID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = t
	}
	if r.StartsAt.IsZero() {
		r.StartsAt = t
	}
	r.StartsAt, r.EndsAt, r.CreatedAt = r.StartsAt.UTC().Truncate(time.Second), r.EndsAt.UTC().Truncate(time.Second), r.CreatedAt.UTC().Truncate(time.Second)
	if !r.EndsAt.After(r.StartsAt) {
		return SilenceRow{}, fmt.Errorf("adding silence %s: it ends (%s) before it starts (%s)", r.ID,
			r.EndsAt.Format(time.RFC3339), r.StartsAt.Format(time.RFC3339))
	}
	r.Expired, r.ExpiredBy = false, ""
	r.UpdatedAt, r.Version = t, uint64(time.Now().UnixNano())
	if err := insert(ctx, s, silencesTable.name, silenceFields, []SilenceRow{r}); err != nil {
		return SilenceRow{}, fmt.Errorf("adding silence %s: %w", r.ID, err)
	}
	return r, nil
}

// ExpireSilence ends silence id now, writing its expired version (by names
// who expired it), and returns that version. Expiring a silence that has
// ended already changes nothing and returns it as it is; an unknown id is
// ErrSilenceNotFound.
func (s *Store) ExpireSilence(ctx context.Context, id, by string) (SilenceRow, error) {
	rows, err := s.readSilences(ctx, id)
	if err != nil {
		return SilenceRow{}, err
	}
	if len(rows) == 0 {
		return SilenceRow{}, fmt.Errorf("expiring silence %s: %w", id, ErrSilenceNotFound)
	}
	r := rows[0]
	t := now()
	if r.EndedAt(t) {
		return r, nil
	}
	r.Expired, r.ExpiredBy = true, by
	if t.Before(r.EndsAt) {
		r.EndsAt = t
	}
	r.UpdatedAt, r.Version = t, max(uint64(time.Now().UnixNano()), r.Version+1)
	if err := insert(ctx, s, silencesTable.name, silenceFields, []SilenceRow{r}); err != nil {
		return SilenceRow{}, fmt.Errorf("expiring silence %s: %w", id, err)
	}
	return r, nil
}

// Silences returns the newest version of every silence, by start then id:
// with all false only those not ended at t (active ones and ones that
// start later), with all true every silence ever added.
func (s *Store) Silences(ctx context.Context, t time.Time, all bool) ([]SilenceRow, error) {
	rows, err := s.readSilences(ctx, "")
	if err != nil {
		return nil, err
	}
	if all {
		return rows, nil
	}
	out := rows[:0]
	for _, r := range rows {
		if !r.EndedAt(t) {
			out = append(out, r)
		}
	}
	return out, nil
}

// silencesQuery reads the newest version of each silence (argMax over
// version, exact whether or not the table's parts are merged), optionally
// of one id; docs/clickhouse.md shows it.
const silencesQuery = `SELECT id, argMax(matchers, version), argMax(starts_at, version), argMax(ends_at, version),
       argMax(created_by, version), argMax(comment, version), argMax(created_at, version),
       argMax(expired, version), argMax(expired_by, version), argMax(updated_at, version), max(version)
FROM silences
WHERE id = ? OR ? = ''
GROUP BY id
ORDER BY argMax(starts_at, version), id`

func (s *Store) readSilences(ctx context.Context, id string) ([]SilenceRow, error) {
	q, err := s.conn.Query(ctx, silencesQuery, id, id)
	if err != nil {
		return nil, fmt.Errorf("reading silences: %w", err)
	}
	defer q.Close()
	var out []SilenceRow
	for q.Next() {
		var r SilenceRow
		var expired uint8
		if err := q.Scan(&r.ID, &r.Matchers, &r.StartsAt, &r.EndsAt, &r.CreatedBy, &r.Comment, &r.CreatedAt,
			&expired, &r.ExpiredBy, &r.UpdatedAt, &r.Version); err != nil {
			return nil, fmt.Errorf("reading silences: %w", err)
		}
		r.Expired = expired != 0
		r.StartsAt, r.EndsAt, r.CreatedAt, r.UpdatedAt = r.StartsAt.UTC(), r.EndsAt.UTC(), r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		out = append(out, r)
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("reading silences: %w", err)
	}
	return out, nil
}
