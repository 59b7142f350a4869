package storage

import (
	"context"
	"fmt"
	"strings"
)

// version is a ClickHouse server version; DDL is rendered for it.
type version struct{ major, minor, patch uint64 }

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

// atLeast reports whether v >= major.minor.
func (v version) atLeast(major, minor uint64) bool {
	return v.major > major || (v.major == major && v.minor >= minor)
}

// Features newer than ClickHouse 18.16 that the schema uses when the server has them.
func (v version) lowCardinality() bool { return v.atLeast(19, 0) }
func (v version) codecs() bool         { return v.atLeast(20, 0) }

// column is one column of a table. dim marks a low-cardinality String dimension; codec is the
// compression used on servers that support codecs.
type column struct {
	name, typ string
	dim       bool
	codec     string
}

// Column codecs used on servers >= 20.
const (
	codecTime  = "Delta(4), ZSTD(1)"
	codecBlob  = "ZSTD(1)"
	codecFloat = "Gorilla, ZSTD(1)"
)

func dim(name string) column                { return column{name: name, typ: "String", dim: true} }
func col(name, typ string) column           { return column{name: name, typ: typ} }
func packed(name, typ, codec string) column { return column{name: name, typ: typ, codec: codec} }

// render returns the column's definition for a server of version v.
func (c column) render(v version) string {
	typ := c.typ
	if c.dim && v.lowCardinality() {
		typ = "LowCardinality(" + typ + ")"
	}
	def := c.name + " " + typ
	if c.codec != "" && v.codecs() {
		def += " CODEC(" + c.codec + ")"
	}
	return def
}

// table is the definition of one table, rendered per server version.
type table struct {
	name        string
	columns     []column
	engine      string
	partitionBy string
	orderBy     string
}

func (t table) render(v version) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s\n(\n", t.name)
	for i, c := range t.columns {
		fmt.Fprintf(&b, "    %s", c.render(v))
		if i < len(t.columns)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, ")\nENGINE = %s\n", t.engine)
	if t.partitionBy != "" {
		fmt.Fprintf(&b, "PARTITION BY %s\n", t.partitionBy)
	}
	fmt.Fprintf(&b, "ORDER BY (%s)", t.orderBy)
	return b.String()
}

// windowKey are the leading columns shared by the tables written per closed window.
func windowKey() []column {
	return []column{
		dim("model_id"),
		dim("model_version"),
		packed("window_start", "DateTime", codecTime),
		packed("window_end", "DateTime", codecTime),
	}
}

func concat(parts ...[]column) []column {
	var out []column
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	inferenceWindowsTable = table{
		name: "inference_windows",
		columns: concat(windowKey(), []column{
			col("events", "UInt64"),
			col("late_events", "UInt64"),
			col("rejected_events", "UInt64"),
			dim("kafka_topic"),
			col("kafka_partition", "Int32"),
			col("first_offset", "Int64"),
			col("last_offset", "Int64"),
			dim("reference_id"),
			packed("flushed_at", "DateTime", codecTime),
		}),
		engine:      "ReplacingMergeTree(flushed_at)",
		partitionBy: "toYYYYMM(window_start)",
		orderBy:     "model_id, model_version, window_start, kafka_topic, kafka_partition",
	}
	featureWindowsTable = table{
		name: "feature_windows",
		columns: concat(windowKey(), []column{
			col("kafka_partition", "Int32"),
			dim("feature"),
			dim("kind"),
			col("count", "UInt64"),
			col("missing", "UInt64"),
			packed("mean", "Float64", codecFloat),
			packed("variance", "Float64", codecFloat),
			packed("min", "Float64", codecFloat),
			packed("max", "Float64", codecFloat),
			packed("bin_edges", "Array(Float64)", codecBlob),
			packed("bin_counts", "Array(UInt64)", codecBlob),
			packed("categories", "Array(String)", codecBlob),
			packed("category_counts", "Array(UInt64)", codecBlob),
			col("other_count", "UInt64"),
			col("unseen_count", "UInt64"),
			dim("reference_id"),
			packed("flushed_at", "DateTime", codecTime),
		}),
		engine:      "ReplacingMergeTree(flushed_at)",
		partitionBy: "toYYYYMM(window_start)",
		orderBy:     "model_id, model_version, feature, window_start, kafka_partition",
	}
	driftScoresTable = table{
		name: "drift_scores",
		columns: concat(windowKey(), []column{
			col("kafka_partition", "Int32"),
			dim("feature"),
			dim("kind"),
			dim("test"),
			packed("statistic", "Float64", codecFloat),
			packed("p_value", "Float64", codecFloat),
			packed("effect", "Float64", codecFloat), // added by migration 6 to databases created before it
			packed("threshold", "Float64", codecFloat),
			dim("severity"),
			col("drifted", "UInt8"),
			col("n_reference", "UInt64"),
			col("n_current", "UInt64"),
			dim("reference_id"),
			packed("flushed_at", "DateTime", codecTime),
		}),
		engine:      "ReplacingMergeTree(flushed_at)",
		partitionBy: "toYYYYMM(window_start)",
		orderBy:     "model_id, model_version, feature, test, window_start, kafka_partition",
	}
	modelWindowsTable = table{
		name: "model_windows",
		columns: concat(windowKey(), []column{
			col("events", "UInt64"),
			col("late_events", "UInt64"),
			col("rejected_events", "UInt64"),
			col("partitions", "UInt32"),
			packed("missing_partitions", "Array(Int32)", codecBlob),
			col("mixed_references", "UInt8"),
			dim("reference_id"),
			// Added by migration 18 to databases created before it (rows
			// written before read empty arrays).
			col("light_callers", "Array(String)"),
			col("light_calls", "Array(UInt64)"),
			col("light_calls_overcount", "Array(UInt64)"),
			packed("decided_at", "DateTime", codecTime),
		}),
		engine:      "ReplacingMergeTree(decided_at)",
		partitionBy: "toYYYYMM(window_start)",
		orderBy:     "model_id, model_version, window_start",
	}
	signalsTable = table{
		name: "signals",
		columns: concat(windowKey(), []column{
			dim("signal"),
			col("subject", "String"),
			packed("statistic", "Float64", codecFloat),
			packed("p_value", "Float64", codecFloat),
			packed("effect", "Float64", codecFloat),
			packed("threshold", "Float64", codecFloat),
			dim("severity"),
			col("n", "UInt64"),
			dim("reference_id"),
			packed("evidence", "String", codecBlob),
			packed("decided_at", "DateTime", codecTime),
		}),
		engine:      "ReplacingMergeTree(decided_at)",
		partitionBy: "toYYYYMM(window_start)",
		orderBy:     "model_id, model_version, signal, subject, window_start",
	}
	alertsTable = table{
		name: "alerts",
		columns: []column{
			packed("event_time", "DateTime", codecTime),
			col("alert_key", "String"),
			dim("model_id"),
			dim("model_version"),
			dim("feature"),
			dim("signal"),            // added by migration 10 to databases created before it
			col("subject", "String"), // added by migration 10 to databases created before it
			dim("record"),
			dim("state"),
			dim("severity"),
			col("statistic", "Float64"),
			col("threshold", "Float64"),
			packed("summary", "String", codecBlob),
			dim("receiver"),
			col("attempt", "UInt32"),
			dim("outcome"),
			col("http_status", "Int32"),
			packed("error", "String", codecBlob),
		},
		engine:      "MergeTree",
		partitionBy: "toYYYYMM(event_time)",
		orderBy:     "model_id, alert_key, event_time",
	}
	silencesTable = table{
		name: "silences",
		columns: []column{
			col("id", "String"),
			col("matchers", "Array(String)"),
			col("starts_at", "DateTime"),
			col("ends_at", "DateTime"),
			col("created_by", "String"),
			col("comment", "String"),
			col("created_at", "DateTime"),
			col("expired", "UInt8"),
			col("expired_by", "String"),
			col("updated_at", "DateTime"),
			col("version", "UInt64"),
		},
		engine:  "ReplacingMergeTree(version)",
		orderBy: "id",
	}
	// alertStateTable holds snapshots of the alert manager's state per
	// model (storage/alertstate.go): appended, the newest version wins.
	alertStateTable = table{
		name: "alert_state",
		columns: []column{
			dim("model_id"),
			col("instance", "String"),
			packed("saved_at", "DateTime", codecTime),
			col("version", "UInt64"),
			packed("state", "String", codecBlob),
			dim("budget"),
			dim("period"),
			col("window_end", "DateTime"),
			col("windows", "UInt32"),
			col("observed", "UInt32"),
			col("breached", "UInt32"),
			col("allowed", "Float64"),
			col("consumed", "Float64"),
			col("remaining", "Float64"),
			col("burn_alerts", "Array(String)"),
			col("burn_severities", "Array(String)"),
			col("burn_thresholds", "Array(Float64)"),
			col("burn_long_windows", "Array(String)"),
			col("burn_long_rates", "Array(Float64)"),
			col("burn_short_windows", "Array(String)"),
			col("burn_short_rates", "Array(Float64)"),
			col("burn_firing", "Array(UInt8)"),
		},
		engine:  "ReplacingMergeTree(version)",
		orderBy: "model_id",
	}
	referencesTable = table{
		name: "references",
		columns: []column{
			dim("model_id"),
			dim("model_version"),
			col("reference_id", "String"),
			packed("created_at", "DateTime", codecTime),
			dim("source"),
			col("windows", "UInt32"),
			dim("feature"),
			dim("kind"),
			col("n", "UInt64"),
			col("mean", "Float64"),
			col("variance", "Float64"),
			col("min", "Float64"),
			col("max", "Float64"),
			packed("bin_edges", "Array(Float64)", codecBlob),
			packed("bin_counts", "Array(UInt64)", codecBlob),
			packed("categories", "Array(String)", codecBlob),
			packed("category_counts", "Array(UInt64)", codecBlob),
			packed("sample", "Array(Float64)", codecBlob),
			packed("state", "String", codecBlob), // added by migration 9 to databases created before it
		},
		engine:  "ReplacingMergeTree(created_at)",
		orderBy: "model_id, model_version, reference_id, feature",
	}
)

// migration is one step of the schema. Its statements are rendered for the server version they run
// on and are each idempotent (IF NOT EXISTS), so a migration interrupted half-way is simply re-run.
type migration struct {
	version     uint32
	description string
	statements  func(v version) []string
}

func createTable(t table) func(version) []string {
	return func(v version) []string { return []string{t.render(v)} }
}

// migrations is the schema history, in order. Append only: never edit an applied step.
var migrations = []migration{
	{1, "create inference_windows", createTable(inferenceWindowsTable)},
	{2, "create feature_windows", createTable(featureWindowsTable)},
	{3, "create drift_scores", createTable(driftScoresTable)},
	{4, "create alerts", createTable(alertsTable)},
	{5, "create references", createTable(referencesTable)},
	// Tables are created in their latest shape; columns added later are also
	// added by their own migration to databases created before.
	{6, "add drift_scores.effect", addColumn(driftScoresTable.name, packed("effect", "Float64", codecFloat), "p_value")},
	{7, "create model_windows", createTable(modelWindowsTable)},
	{8, "create signals", createTable(signalsTable)},
	{9, "add references.state", addColumn(referencesTable.name, packed("state", "String", codecBlob), "sample")},
	// Alerts of signals: rows written before read signal and subject as ''.
	{10, "add alerts.signal and alerts.subject", func(v version) []string {
		return append(addColumn(alertsTable.name, dim("signal"), "feature")(v),
			addColumn(alertsTable.name, col("subject", "String"), "signal")(v)...)
	}},
	{11, "create predictions", createTable(predictionsTable)},
	{12, "create labels", createTable(labelsTable)},
	{13, "create performance_windows", createTable(performanceTable)},
	{14, "create caller_windows", createTable(callerWindowsTable)},
	{15, "create silences", createTable(silencesTable)},
	{16, "create alert_state", createTable(alertStateTable)},
	// The figures of caller_diversity, caller_ood and caller_harvest per
	// caller: rows written before read 0 (input_calls 0: not measured).
	{17, "add caller_windows input, out-of-distribution and class figures", addColumns(callerWindowsTable.name, "probes",
		col("input_calls", "UInt64"), col("input_overcount", "UInt64"), col("distinct_inputs", "Float64"),
		col("ood_sampled", "UInt64"), col("ood_outside", "UInt64"),
		col("class_calls", "UInt64"), col("classes", "UInt32"), col("class_entropy", "Float64"))},
	// The tracked callers a window does not store in caller_windows
	// (signals.access.store_callers), with their calls, for the callers'
	// history: rows written before read empty arrays.
	{18, "add model_windows light callers", addColumns(modelWindowsTable.name, "reference_id",
		col("light_callers", "Array(String)"), col("light_calls", "Array(UInt64)"), col("light_calls_overcount", "Array(UInt64)"))},
}

// addColumn adds a column after another one. ClickHouse 18.16 has no ADD
// COLUMN IF NOT EXISTS: Migrate treats "already exists" as done, so that an
// interrupted migration can be re-run.
func addColumn(tableName string, c column, after string) func(version) []string {
	return func(v version) []string {
		return []string{fmt.Sprintf("ALTER TABLE `%s` ADD COLUMN %s AFTER %s", tableName, c.render(v), after)}
	}
}

// addColumns adds columns in order, the first after another one, each
// in its own statement (each re-run alone when interrupted).
func addColumns(tableName, after string, cs ...column) func(version) []string {
	return func(v version) []string {
		var out []string
		prev := after
		for _, c := range cs {
			out = append(out, addColumn(tableName, c, prev)(v)...)
			prev = c.name
		}
		return out
	}
}

// migrationsTable records the applied migrations.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    description String,
    applied_at DateTime
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY (version)`

// renderSchema returns every statement Migrate would run on an empty database of a server of
// version v, separated by ";\n\n" and ending in ";\n".
func renderSchema(v version) string {
	stmts := []string{migrationsTable}
	for _, m := range migrations {
		stmts = append(stmts, m.statements(v)...)
	}
	return strings.Join(stmts, ";\n\n") + ";\n"
}

// Migrate brings the database's schema up to date. It is idempotent and safe to run at every start:
// applied versions are read from schema_migrations and skipped.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.conn.Exec(ctx, migrationsTable); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		for _, stmt := range m.statements(s.version) {
			if err := s.conn.Exec(ctx, stmt); err != nil {
				if strings.HasPrefix(stmt, "ALTER TABLE") && strings.Contains(err.Error(), "already exists") {
					continue
				}
				return fmt.Errorf("applying migration %d (%s): %w", m.version, m.description, err)
			}
		}
		if err := s.recordMigration(ctx, m); err != nil {
			return fmt.Errorf("recording migration %d (%s): %w", m.version, m.description, err)
		}
		s.log.Info("applied clickhouse migration", "version", m.version, "description", m.description,
			"server_version", s.version.String())
	}
	return nil
}

func (s *Store) recordMigration(ctx context.Context, m migration) error {
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, description, applied_at)")
	if err != nil {
		return err
	}
	defer batch.Close()
	if err := batch.Append(m.version, m.description, now()); err != nil {
		return err
	}
	return batch.Send()
}

func (s *Store) appliedMigrations(ctx context.Context) (map[uint32]bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	return applied, nil
}
