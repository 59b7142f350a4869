package storage

import (
	"context"
	"fmt"
	"time"
)

// ReferenceRow is one feature of a pinned reference (baseline) of a model version, in the
// references table. All rows of one reference share ReferenceID, a content hash.
type ReferenceRow struct {
	ModelID        string
	ModelVersion   string
	ReferenceID    string
	CreatedAt      time.Time // zero means the time of the write
	Source         string    // how it was built, e.g. "warmup" or "import"
	Windows        uint32    // windows merged into it
	Feature        string
	Kind           string // "numeric" or "categorical"
	N              uint64
	Mean           float64
	Variance       float64
	Min            float64
	Max            float64
	BinEdges       []float64
	BinCounts      []uint64
	Categories     []string
	CategoryCounts []uint64
	Sample         []float64
	State          string // kind "signal": the encoded state of the signal named by Feature
}

var referenceFields = []field[ReferenceRow]{
	fieldOf("model_id", func(r *ReferenceRow) string { return r.ModelID }),
	fieldOf("model_version", func(r *ReferenceRow) string { return r.ModelVersion }),
	fieldOf("reference_id", func(r *ReferenceRow) string { return r.ReferenceID }),
	fieldOf("created_at", func(r *ReferenceRow) time.Time { return r.CreatedAt }),
	fieldOf("source", func(r *ReferenceRow) string { return r.Source }),
	fieldOf("windows", func(r *ReferenceRow) uint32 { return r.Windows }),
	fieldOf("feature", func(r *ReferenceRow) string { return r.Feature }),
	fieldOf("kind", func(r *ReferenceRow) string { return r.Kind }),
	fieldOf("n", func(r *ReferenceRow) uint64 { return r.N }),
	fieldOf("mean", func(r *ReferenceRow) float64 { return r.Mean }),
	fieldOf("variance", func(r *ReferenceRow) float64 { return r.Variance }),
	fieldOf("min", func(r *ReferenceRow) float64 { return r.Min }),
	fieldOf("max", func(r *ReferenceRow) float64 { return r.Max }),
	fieldOf("bin_edges", func(r *ReferenceRow) []float64 { return nonNil(r.BinEdges) }),
	fieldOf("bin_counts", func(r *ReferenceRow) []uint64 { return nonNil(r.BinCounts) }),
	fieldOf("categories", func(r *ReferenceRow) []string { return nonNil(r.Categories) }),
	fieldOf("category_counts", func(r *ReferenceRow) []uint64 { return nonNil(r.CategoryCounts) }),
	fieldOf("sample", func(r *ReferenceRow) []float64 { return nonNil(r.Sample) }),
	fieldOf("state", func(r *ReferenceRow) string { return r.State }),
}

// SaveReference writes the rows of one or more references, retrying like WriteWindows until it
// succeeds or ctx ends. Rows with a zero CreatedAt get the time of the call. Saving the same
// reference again is harmless: rows with the same key collapse to one.
func (s *Store) SaveReference(ctx context.Context, rows []ReferenceRow) error {
	rows = stamp(rows, now(), func(r *ReferenceRow) *time.Time { return &r.CreatedAt })
	return insert(ctx, s, referencesTable.name, referenceFields, rows)
}

// referenceColumns are the columns the reference reads return, in ReferenceRow order.
const referenceColumns = `model_id, model_version, reference_id, created_at, source, windows, feature, kind,
    n, mean, variance, min, max, bin_edges, bin_counts, categories, category_counts, sample, state`

// loadReferencesQuery reads the newest reference of every model version (docs/clickhouse.md shows it).
const loadReferencesQuery = `SELECT ` + referenceColumns + `
FROM references FINAL
WHERE (model_id, model_version, reference_id) IN (
    SELECT model_id, model_version, argMax(reference_id, (created_at, reference_id))
    FROM references
    GROUP BY model_id, model_version)
ORDER BY model_id, model_version, feature`

// modelReferencesQuery reads every stored reference of one model.
const modelReferencesQuery = `SELECT ` + referenceColumns + `
FROM references FINAL
WHERE model_id = ?
ORDER BY model_version, reference_id, feature`

// LoadReferences returns the rows of the newest reference of every model version (largest
// created_at, ties broken by the larger reference_id), ordered by model, version and feature.
func (s *Store) LoadReferences(ctx context.Context) ([]ReferenceRow, error) {
	rows, err := s.readReferences(ctx, loadReferencesQuery)
	if err != nil {
		return nil, fmt.Errorf("loading references: %w", err)
	}
	return rows, nil
}

// ActiveReferenceIDs returns the id of the newest reference of every model version, keyed by
// (model id, version): what LoadReferences would load, without the rows.
func (s *Store) ActiveReferenceIDs(ctx context.Context) (map[[2]string]string, error) {
	rows, err := s.conn.Query(ctx, `SELECT model_id, model_version, argMax(reference_id, (created_at, reference_id))
FROM references
GROUP BY model_id, model_version`)
	if err != nil {
		return nil, fmt.Errorf("listing active references: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]string{}
	for rows.Next() {
		var id, version, ref string
		if err := rows.Scan(&id, &version, &ref); err != nil {
			return nil, fmt.Errorf("listing active references: %w", err)
		}
		out[[2]string{id, version}] = ref
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing active references: %w", err)
	}
	return out, nil
}

// LatestReferenceID returns the id of the newest stored reference of a model version, "" when it has none.
func (s *Store) LatestReferenceID(ctx context.Context, modelID, modelVersion string) (string, error) {
	rows, err := s.conn.Query(ctx, `SELECT argMax(reference_id, (created_at, reference_id)) FROM references
WHERE model_id = ? AND model_version = ? GROUP BY model_id, model_version`, modelID, modelVersion)
	if err != nil {
		return "", fmt.Errorf("reading the newest reference of model %s version %s: %w", modelID, modelVersion, err)
	}
	defer rows.Close()
	id := ""
	if rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return "", fmt.Errorf("reading the newest reference of model %s version %s: %w", modelID, modelVersion, err)
		}
	}
	return id, rows.Err()
}

// ServingReference returns what a model serves now: of its versions, the
// one with the most inferences in its decided windows that start within
// span of its newest one, that one included (model_windows; span/window
// size of them), and that version's newest stored
// reference ("" when it has none yet); when the model has no decided window,
// the version of its newest stored reference, leaving out the references of
// its training feedback (source 'feedback'). A version a producer makes up
// must then carry more of the model's traffic than the versions it serves to
// be taken for what it serves; its newest reference alone is not enough. ok
// is false when the model has neither (a model's version may be "").
func (s *Store) ServingReference(ctx context.Context, modelID string, span time.Duration) (version, referenceID string, ok bool, err error) {
	rows, err := s.conn.Query(ctx, `SELECT model_version, sum(events) AS n
FROM model_windows FINAL
WHERE model_id = ? AND window_start > (SELECT max(window_start) FROM model_windows WHERE model_id = ?) - ?
GROUP BY model_version
ORDER BY n DESC, model_version
LIMIT 1`, modelID, modelID, uint64(span/time.Second))
	if err != nil {
		return "", "", false, fmt.Errorf("reading the serving version of model %s: %w", modelID, err)
	}
	var n uint64
	if rows.Next() {
		if err := rows.Scan(&version, &n); err != nil {
			rows.Close()
			return "", "", false, fmt.Errorf("reading the serving version of model %s: %w", modelID, err)
		}
		ok = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", "", false, fmt.Errorf("reading the serving version of model %s: %w", modelID, err)
	}
	if ok {
		referenceID, err = s.LatestReferenceID(ctx, modelID, version)
		return version, referenceID, true, err
	}
	rows, err = s.conn.Query(ctx, `SELECT argMax(model_version, (created_at, reference_id)), argMax(reference_id, (created_at, reference_id))
FROM references
WHERE model_id = ? AND source != 'feedback'
GROUP BY model_id`, modelID)
	if err != nil {
		return "", "", false, fmt.Errorf("reading the newest serving reference of model %s: %w", modelID, err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&version, &referenceID); err != nil {
			return "", "", false, fmt.Errorf("reading the newest serving reference of model %s: %w", modelID, err)
		}
		ok = true
	}
	return version, referenceID, ok, rows.Err()
}

// ReferenceRows returns the rows of one stored reference of a model version (none when it is not stored).
func (s *Store) ReferenceRows(ctx context.Context, modelID, modelVersion, referenceID string) ([]ReferenceRow, error) {
	rows, err := s.readReferences(ctx, `SELECT `+referenceColumns+`
FROM references FINAL
WHERE model_id = ? AND model_version = ? AND reference_id = ?
ORDER BY feature`, modelID, modelVersion, referenceID)
	if err != nil {
		return nil, fmt.Errorf("reading reference %s of model %s version %s: %w", referenceID, modelID, modelVersion, err)
	}
	return rows, nil
}

// ModelReferences returns the rows of every stored reference of a model, active or not,
// ordered by version, reference id and feature.
func (s *Store) ModelReferences(ctx context.Context, modelID string) ([]ReferenceRow, error) {
	rows, err := s.readReferences(ctx, modelReferencesQuery, modelID)
	if err != nil {
		return nil, fmt.Errorf("reading the references of model %s: %w", modelID, err)
	}
	return rows, nil
}

func (s *Store) readReferences(ctx context.Context, query string, args ...any) ([]ReferenceRow, error) {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ReferenceRow
	for rows.Next() {
		var r ReferenceRow
		if err := rows.Scan(&r.ModelID, &r.ModelVersion, &r.ReferenceID, &r.CreatedAt, &r.Source, &r.Windows,
			&r.Feature, &r.Kind, &r.N, &r.Mean, &r.Variance, &r.Min, &r.Max, &r.BinEdges, &r.BinCounts,
			&r.Categories, &r.CategoryCounts, &r.Sample, &r.State); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
