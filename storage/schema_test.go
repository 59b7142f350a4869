package storage

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// modern is the server version the modern golden schema is rendered for; chdb_check.js runs that
// file on a current ClickHouse.
var modern = version{24, 8, 0}

func TestSchemaGolden(t *testing.T) {
	tests := []struct {
		file string
		v    version
	}{
		{"schema_modern.sql", modern},
		{"schema_18.sql", version{18, 16, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := renderSchema(tt.v)
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (regenerate with go test ./storage -update): %v", err)
			}
			if got != string(want) {
				t.Fatalf("schema rendered for %s differs from %s; regenerate with go test ./storage -update\n--- got ---\n%s", tt.v, path, got)
			}
		})
	}
}

func TestSchemaVersionGates(t *testing.T) {
	tests := []struct {
		v                     version
		lowCardinality, codec bool
	}{
		{version{18, 16, 1}, false, false},
		{version{19, 1, 6}, true, false},
		{version{20, 3, 0}, true, true},
		{modern, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.v.String(), func(t *testing.T) {
			ddl := renderSchema(tt.v)
			if got := strings.Contains(ddl, "LowCardinality(String)"); got != tt.lowCardinality {
				t.Errorf("LowCardinality rendered = %v, want %v", got, tt.lowCardinality)
			}
			if got := strings.Contains(ddl, "CODEC("); got != tt.codec {
				t.Errorf("CODEC rendered = %v, want %v", got, tt.codec)
			}
			for _, banned := range []string{"TTL", "DateTime64", "Map(", "SimpleAggregateFunction", "IF NOT EXISTS " + "col", "allow_experimental"} {
				if strings.Contains(ddl, banned) {
					t.Errorf("schema for %s contains %q", tt.v, banned)
				}
			}
		})
	}
}

func TestMigrateIdempotent(t *testing.T) {
	s := newTestStore(t, prometheus.NewRegistry()) // migrates once
	ctx := testContext(t)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("third Migrate: %v", err)
	}
	if n := queryInt(t, s, "SELECT count() FROM schema_migrations"); n != uint64(len(migrations)) {
		t.Fatalf("schema_migrations has %d rows after three Migrate calls, want %d (one per migration)", n, len(migrations))
	}
	if n := queryInt(t, s, "SELECT max(version) FROM schema_migrations"); n != uint64(migrations[len(migrations)-1].version) {
		t.Fatalf("max applied version = %d, want %d", n, migrations[len(migrations)-1].version)
	}

	// The live tables have exactly the columns and types rendered for this server.
	tables := []table{inferenceWindowsTable, featureWindowsTable, driftScoresTable, modelWindowsTable, signalsTable, alertsTable, referencesTable, silencesTable}
	for _, tb := range tables {
		rows, err := s.Query(ctx, "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = ?", tb.name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			got = append(got, name+" "+typ)
		}
		rows.Close()
		var want []string
		for _, c := range tb.columns {
			typ := c.typ
			if c.dim && s.version.lowCardinality() {
				typ = "LowCardinality(String)"
			}
			want = append(want, c.name+" "+typ)
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("table %s columns:\n got %v\nwant %v", tb.name, got, want)
		}
	}
	rows, err := s.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = currentDatabase()")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			t.Fatal(err)
		}
		got = append(got, name+"="+engine)
	}
	sort.Strings(got)
	want := "alert_state=ReplacingMergeTree alerts=MergeTree caller_windows=ReplacingMergeTree drift_scores=ReplacingMergeTree feature_windows=ReplacingMergeTree " +
		"inference_windows=ReplacingMergeTree labels=ReplacingMergeTree model_windows=ReplacingMergeTree performance_windows=ReplacingMergeTree " +
		"predictions=ReplacingMergeTree references=ReplacingMergeTree schema_migrations=ReplacingMergeTree signals=ReplacingMergeTree silences=ReplacingMergeTree"
	if strings.Join(got, " ") != want {
		t.Fatalf("tables = %v, want %s", got, want)
	}
}

// TestMigrateResumes checks that a database with only some migrations applied is completed.
func TestMigrateResumes(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	for _, q := range []string{"DROP TABLE references", "DROP TABLE alerts",
		"ALTER TABLE schema_migrations DELETE WHERE version >= 4"} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitForgotten(t, s, "version >= 4")
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if n := queryInt(t, s, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('references', 'alerts')"); n != 2 {
		t.Fatalf("after resuming, %d of the 2 dropped tables exist", n)
	}
	if n := queryInt(t, s, "SELECT uniqExact(version) FROM schema_migrations"); n != uint64(len(migrations)) {
		t.Fatalf("schema_migrations has %d versions, want %d", n, len(migrations))
	}
}

// TestMigrateAddsAlertSignal upgrades an alerts table as migration 9 left it
// (no signal, no subject, one row of history): migration 10 adds both
// columns where the table definition has them, the old row reads them as
// empty strings, and signal alerts are written and read back.
func TestMigrateAddsAlertSignal(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	old := alertsTable
	old.columns = slices.DeleteFunc(slices.Clone(alertsTable.columns), func(c column) bool {
		return c.name == "signal" || c.name == "subject"
	})
	if len(old.columns) != len(alertsTable.columns)-2 {
		t.Fatalf("alerts has no signal and subject columns to remove: %v", alertsTable.columns)
	}
	for _, q := range []string{"DROP TABLE alerts", old.render(s.version),
		`INSERT INTO alerts (event_time, alert_key, model_id, model_version, feature, record, state, severity, statistic,
		threshold, summary, receiver, attempt, outcome, http_status, error)
		SELECT toDateTime('2024-05-01 10:02:00'), 'driftwatch/fraud/v1/amount', 'fraud', 'v1', 'amount', 'state', 'firing',
		'critical', 0.31, 0.25, 'psi 0.31', '', toUInt32(0), '', toInt32(0), ''`,
		"ALTER TABLE schema_migrations DELETE WHERE version = 10"} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitForgotten(t, s, "version = 10")
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	rows, err := s.Query(ctx, "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'alerts'")
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		got = append(got, name+" "+typ)
	}
	rows.Close()
	for _, c := range alertsTable.columns {
		typ := c.typ
		if c.dim && s.version.lowCardinality() {
			typ = "LowCardinality(String)"
		}
		want = append(want, c.name+" "+typ)
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("alerts columns after migration 10:\n got %v\nwant %v", got, want)
	}
	if err := s.RecordAlerts(ctx, []AlertRow{{EventTime: t0, AlertKey: "driftwatch/fraud/v1/error_rate/%2A", ModelID: "fraud",
		ModelVersion: "v1", Signal: "error_rate", Subject: "*", Record: "state", State: "firing", Severity: "warning"}}); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, "SELECT count() FROM alerts WHERE feature = 'amount' AND signal = '' AND subject = ''"); n != 1 {
		t.Errorf("%d rows of history written before migration 10 read signal and subject as '', want 1", n)
	}
	if n := queryInt(t, s, "SELECT count() FROM alerts WHERE feature = '' AND signal = 'error_rate' AND subject = '*'"); n != 1 {
		t.Errorf("%d signal alert rows read back, want 1", n)
	}
}

// waitForgotten waits until the rows of schema_migrations matching where are
// gone: ALTER ... DELETE is an asynchronous mutation.
func waitForgotten(t *testing.T, s *Store, where string) {
	t.Helper()
	for i := 0; queryInt(t, s, "SELECT count() FROM schema_migrations WHERE "+where) != 0; i++ {
		if i > 100 {
			t.Fatal("ALTER ... DELETE on schema_migrations did not finish")
		}
		sleep(50)
	}
}

// TestMigrateAddsCallerFigures upgrades a caller_windows table as migration
// 14 created it (no figures of caller_diversity, caller_ood and
// caller_harvest, one row): migration 17 adds the eight columns where the
// table definition has them, the old row reads them as 0, and rows with
// the figures are written and read back.
func TestMigrateAddsCallerFigures(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	added := []string{"input_calls", "input_overcount", "distinct_inputs", "ood_sampled", "ood_outside", "class_calls", "classes", "class_entropy"}
	old := callerWindowsTable
	old.columns = slices.DeleteFunc(slices.Clone(callerWindowsTable.columns), func(c column) bool { return slices.Contains(added, c.name) })
	if len(old.columns) != len(callerWindowsTable.columns)-len(added) {
		t.Fatalf("caller_windows lacks some of %v: %v", added, callerWindowsTable.columns)
	}
	for _, q := range []string{"DROP TABLE caller_windows", old.render(s.version),
		`INSERT INTO caller_windows (model_id, model_version, window_start, window_end, caller, calls, calls_overcount,
		scored_calls, scored_overcount, probes, decided_at)
		SELECT 'fraud', 'v1', toDateTime('2024-05-01 10:00:00'), toDateTime('2024-05-01 10:01:00'), 'old-caller',
		toUInt64(500), toUInt64(0), toUInt64(500), toUInt64(0), toUInt64(20), toDateTime('2024-05-01 10:02:00')`,
		"ALTER TABLE schema_migrations DELETE WHERE version = 17"} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitForgotten(t, s, "version = 17")
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	rows, err := s.Query(ctx, "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'caller_windows'")
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		got = append(got, name+" "+typ)
	}
	rows.Close()
	for _, c := range callerWindowsTable.columns {
		typ := c.typ
		if c.dim && s.version.lowCardinality() {
			typ = "LowCardinality(String)"
		}
		want = append(want, c.name+" "+typ)
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("caller_windows columns after migration 17:\n got %v\nwant %v", got, want)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if err := s.WriteWindows(ctx, WindowBatch{Callers: []CallerRow{{ModelID: "fraud", ModelVersion: "v1", WindowStart: t0.Add(time.Minute),
		WindowEnd: t0.Add(2 * time.Minute), Caller: "extractor-1", Calls: 900, ScoredCalls: 900, Probes: 30, InputCalls: 900, InputOvercount: 3,
		DistinctInputs: 871.5, OODSampled: 32, OODOutside: 11, ClassCalls: 890, Classes: 4, ClassEntropy: 0.97}}}); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT count() FROM caller_windows WHERE caller = 'old-caller' AND input_calls = 0 AND input_overcount = 0
		AND distinct_inputs = 0 AND ood_sampled = 0 AND ood_outside = 0 AND class_calls = 0 AND classes = 0 AND class_entropy = 0`); n != 1 {
		t.Errorf("%d rows written before migration 17 read its columns as 0, want 1", n)
	}
	if n := queryInt(t, s, `SELECT count() FROM caller_windows WHERE caller = 'extractor-1' AND input_calls = 900 AND input_overcount = 3
		AND distinct_inputs = 871.5 AND ood_sampled = 32 AND ood_outside = 11 AND class_calls = 890 AND classes = 4 AND class_entropy = 0.97`); n != 1 {
		t.Errorf("%d rows with the figures read back, want 1", n)
	}
}
