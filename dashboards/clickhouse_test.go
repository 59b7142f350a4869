package dashboards

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/storage"
)

// clickhouseAddr is the server the ClickHouse tests use: DRIFTWATCH_TEST_CLICKHOUSE or the address
// scripts/clickhouse.sh starts.
func clickhouseAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("DRIFTWATCH_TEST_CLICKHOUSE")
	if addr == "" {
		addr = storage.DefaultAddr
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("ClickHouse not reachable at %s (set DRIFTWATCH_TEST_CLICKHOUSE or run scripts/clickhouse.sh start): %v", addr, err)
	}
	c.Close()
	return addr
}

// selection is what the dashboard's variables are set to while a query is expanded.
type selection struct {
	name     string
	values   map[string][]string // variable → selected values
	allFirst bool                // $__conditionalAll sees "All" selected
	from, to time.Time
}

// expand does what Grafana and the ClickHouse plugin do to a query before sending it:
// $__conditionalAll(cond, $var) becomes 1=1 when All is selected and cond otherwise, variables are
// replaced (${v:singlequote} by quoted, comma-separated values), $__timeFilter(c) becomes
// c >= toDateTime(from) AND c <= toDateTime(to) and $__interval_s becomes 60.
func expand(t *testing.T, q string, sel selection) string {
	t.Helper()
	const macro = "$__conditionalAll("
	for {
		i := strings.Index(q, macro)
		if i < 0 {
			break
		}
		args, end := macroArgs(t, q, i+len(macro))
		if len(args) != 2 {
			t.Fatalf("$__conditionalAll needs 2 arguments, got %q", args)
		}
		repl := strings.TrimSpace(args[0])
		if sel.allFirst {
			repl = "1=1"
		}
		q = q[:i] + repl + q[end:]
	}
	q = variableRef.ReplaceAllStringFunc(q, func(m string) string {
		sub := variableRef.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if strings.HasPrefix(name, "__") {
			return m
		}
		vals, ok := sel.values[name]
		if !ok {
			t.Fatalf("no value for variable %s", name)
		}
		if strings.HasSuffix(m, ":singlequote}") {
			quoted := make([]string, len(vals))
			for i, v := range vals {
				quoted[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
			}
			return strings.Join(quoted, ",")
		}
		return strings.Join(vals, ",")
	})
	timeFilter := regexp.MustCompile(`\$__timeFilter\(\s*(\w+)\s*\)`)
	q = timeFilter.ReplaceAllString(q, fmt.Sprintf("$1 >= toDateTime(%d) AND $1 <= toDateTime(%d)", sel.from.Unix(), sel.to.Unix()))
	q = strings.ReplaceAll(q, "$__interval_s", "60")
	if strings.Contains(q, "$") {
		t.Fatalf("unexpanded macro or variable left in:\n%s", q)
	}
	return q
}

// macroArgs splits the arguments of a macro call whose "(" is at q[open-1], honouring nested
// parentheses and quoted strings; it returns them and the index after the closing parenthesis.
func macroArgs(t *testing.T, q string, open int) ([]string, int) {
	t.Helper()
	depth, start, inQuote := 0, open, false
	var args []string
	for i := open; i < len(q); i++ {
		switch c := q[i]; {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '\'' {
				inQuote = false
			}
		case c == '\'':
			inQuote = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ')':
			return append(args, q[start:i]), i + 1
		case c == ',' && depth == 0:
			args = append(args, q[start:i])
			start = i + 1
		}
	}
	t.Fatalf("unclosed macro call in:\n%s", q)
	return nil, 0
}

func TestExpand(t *testing.T) {
	from, to := time.Unix(1000, 0), time.Unix(2000, 0)
	q := "SELECT $__interval_s FROM x WHERE $__timeFilter(window_start) AND m = ${model_id:singlequote} AND v = '$model_version' " +
		"AND $__conditionalAll(feature IN (${feature:singlequote}), $feature)"
	got := expand(t, q, selection{values: map[string][]string{
		"model_id": {"fr'aud"}, "model_version": {"v1"}, "feature": {"a", "b"}}, from: from, to: to})
	want := "SELECT 60 FROM x WHERE window_start >= toDateTime(1000) AND window_start <= toDateTime(2000) AND m = 'fr\\'aud' AND v = 'v1' " +
		"AND feature IN ('a','b')"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = expand(t, "WHERE $__conditionalAll(f(x, (y)), ${feature}) AND 1", selection{allFirst: true, values: map[string][]string{"feature": {"a"}}})
	if want := "WHERE 1=1 AND 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// seed writes ten minutes of windows for fraud/v1 (two partitions, a numeric and a categorical
// feature, drift from minute 5) and one window of churn/v7, plus alert history, with the Store's writers.
func seed(t *testing.T, ctx context.Context, s *storage.Store, base time.Time) {
	t.Helper()
	var b storage.WindowBatch
	score := func(m int, p int32, feature, kind, test string, stat, pv, thr float64, sev string) {
		start := base.Add(time.Duration(m) * time.Minute)
		b.Scores = append(b.Scores, storage.ScoreRow{
			ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
			KafkaPartition: p, Feature: feature, Kind: kind, Test: test, Statistic: stat, PValue: pv, Threshold: thr,
			Severity: sev, Drifted: sev != "ok", NReference: 1000, NCurrent: 100, ReferenceID: "ref-1"})
	}
	for m := range 10 {
		start := base.Add(time.Duration(m) * time.Minute)
		for p := range int32(2) {
			events := uint64(50)
			if p == 0 {
				events = uint64(100 + m)
			}
			b.Windows = append(b.Windows, storage.WindowRow{
				ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
				Events: events, LateEvents: 1, RejectedEvents: 2, KafkaTopic: "telemetry", KafkaPartition: p,
				FirstOffset: int64(1000 * m), LastOffset: int64(1000*m + int(events) - 1), ReferenceID: "ref-1"})
			b.Features = append(b.Features,
				storage.FeatureRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
					KafkaPartition: p, Feature: "amount", Kind: "numeric", Count: events, Mean: 10, Variance: 4, Min: 1, Max: 20,
					BinEdges: []float64{5, 10, 15}, BinCounts: []uint64{events / 4, events / 4, events / 4, events - 3*(events/4)},
					ReferenceID: "ref-1"},
				storage.FeatureRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: start.Add(time.Minute),
					KafkaPartition: p, Feature: "country", Kind: "categorical", Count: events,
					Categories: []string{"DE", "FR"}, CategoryCounts: []uint64{events / 2, events - events/2}, ReferenceID: "ref-1"})
			psi, ks, sev := 0.02, 0.4, "ok"
			if m >= 5 {
				psi, ks, sev = 0.4, 1e-9, "critical"
			}
			score(m, p, "amount", "numeric", "psi", psi, math.NaN(), 0.25, sev)
			score(m, p, "amount", "numeric", "js", psi/2, math.NaN(), 0.2, sev)
			score(m, p, "amount", "numeric", "wasserstein_norm", psi/2, math.NaN(), 0.2, sev)
			score(m, p, "amount", "numeric", "ks", 0.3, ks, 1e-6, sev)
			countrySev := "ok"
			if m >= 7 {
				countrySev = "warning"
			}
			score(m, p, "country", "categorical", "psi", 0.12, math.NaN(), 0.1, countrySev)
			score(m, p, "country", "categorical", "js", 0.05, math.NaN(), 0.1, "ok")
			score(m, p, "country", "categorical", "chi2", 30, 0.01, 1e-3, "ok")
		}
	}
	b.Windows = append(b.Windows, storage.WindowRow{ModelID: "churn", ModelVersion: "v7", WindowStart: base,
		WindowEnd: base.Add(time.Minute), Events: 7, KafkaTopic: "telemetry", KafkaPartition: 2, LastOffset: 6})
	b.Features = append(b.Features, storage.FeatureRow{ModelID: "churn", ModelVersion: "v7", WindowStart: base,
		WindowEnd: base.Add(time.Minute), KafkaPartition: 2, Feature: "tenure", Kind: "numeric", Count: 7})

	// A stale first write of minute 0, partition 0 (as after a crash before the offset commit): the
	// rewrite below, flushed later, replaces it, so FINAL must count 100 events, not 999 + 100.
	stale := storage.WindowBatch{Windows: []storage.WindowRow{b.Windows[0]}}
	stale.Windows[0].Events = 999
	stale.Windows[0].FlushedAt = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	if err := s.WriteWindows(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteWindows(ctx, b); err != nil {
		t.Fatal(err)
	}

	at := base.Add(7 * time.Minute)
	alert := storage.AlertRow{AlertKey: "fraud/v1/amount/psi", ModelID: "fraud", ModelVersion: "v1", Feature: "amount",
		Severity: "critical", Statistic: 0.4, Threshold: 0.25, Summary: "PSI of amount 0.40 > 0.25"}
	rows := []storage.AlertRow{alert, alert, alert, alert}
	rows[0].EventTime, rows[0].Record, rows[0].State = base.Add(6*time.Minute), "state", "pending"
	rows[1].EventTime, rows[1].Record, rows[1].State = at, "state", "firing"
	rows[2].EventTime, rows[2].Record, rows[2].State = at, "delivery", "firing"
	rows[2].Receiver, rows[2].Attempt, rows[2].Outcome, rows[2].HTTPStatus, rows[2].Error = "slack", 1, "retry", 503, "service unavailable"
	rows[3].EventTime, rows[3].Record, rows[3].State = at.Add(time.Second), "delivery", "firing"
	rows[3].Receiver, rows[3].Attempt, rows[3].Outcome, rows[3].HTTPStatus = "slack", 2, "success", 200
	if err := s.RecordAlerts(ctx, rows); err != nil {
		t.Fatal(err)
	}
}

// result is a query's column names and types and its rows.
type result struct {
	columns, types []string
	rows           [][]any
}

func (r result) column(name string) []any {
	i := slices.Index(r.columns, name)
	if i < 0 {
		return nil
	}
	out := make([]any, len(r.rows))
	for j, row := range r.rows {
		out[j] = row[i]
	}
	return out
}

func query(t *testing.T, ctx context.Context, s *storage.Store, q string) result {
	t.Helper()
	rows, err := s.Query(ctx, q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	var res result
	cts := rows.ColumnTypes()
	for _, ct := range cts {
		res.columns = append(res.columns, ct.Name())
		res.types = append(res.types, ct.DatabaseTypeName())
	}
	for rows.Next() {
		ptrs := make([]any, len(cts))
		for i, ct := range cts {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
		}
		res.rows = append(res.rows, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	return res
}

func strs(vals []any) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = fmt.Sprint(v)
	}
	return out
}

// TestClickHouseQueries runs every ClickHouse query of the dashboards, expanded as Grafana would,
// against the real server over rows written by the storage package, and checks what the main
// panels show.
func TestClickHouseQueries(t *testing.T) {
	addr := clickhouseAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rb [6]byte
	if _, err := rand.Read(rb[:]); err != nil {
		t.Fatal(err)
	}
	db := "driftwatch_dashboards_" + hex.EncodeToString(rb[:])
	cfg := storage.DefaultConfig()
	cfg.Addr, cfg.Database = addr, db
	s, err := storage.Open(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatalf("opening ClickHouse at %s: %v", addr, err)
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		if err := s.Exec(dctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("dropping test database %s: %v", db, err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("ClickHouse %s at %s, database %s", s.ServerVersion(), addr, db)

	now := time.Now().UTC()
	base := now.Truncate(time.Minute).Add(-30 * time.Minute)
	seed(t, ctx, s, base)
	from, to := now.Add(-time.Hour), now.Add(5*time.Minute)

	var dashboards []jsonDashboard
	for _, d := range loadDashboards(t) {
		if d.UID == "driftwatch-model-drift" {
			dashboards = append(dashboards, d)
		}
	}
	if len(dashboards) != 1 {
		t.Fatalf("found %d model drift dashboards, want 1", len(dashboards))
	}
	d := dashboards[0]

	// The variable queries, in order, each seeing the values chosen before it.
	sel := selection{values: map[string][]string{}, from: from, to: to}
	wantVars := map[string][]string{"model_id": {"churn", "fraud"}, "model_version": {"v1"}, "feature": {"amount", "country"}}
	choose := map[string][]string{"model_id": {"fraud"}, "model_version": {"v1"}, "feature": {"amount"}}
	for _, v := range d.Templating.List {
		if v.Datasource.UID != ClickHouse.UID {
			continue
		}
		res := query(t, ctx, s, expand(t, v.Query, sel))
		if len(res.columns) != 1 {
			t.Errorf("variable %s: %d columns, want 1 (value and text)", v.Name, len(res.columns))
		}
		got := strs(res.column(res.columns[0]))
		if want, ok := wantVars[v.Name]; !ok || !slices.Equal(got, want) {
			t.Errorf("variable %s: options %v, want %v", v.Name, got, want)
		}
		sel.values[v.Name] = choose[v.Name]
	}

	checked := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Datasource.UID != ClickHouse.UID {
				continue
			}
			modes := []bool{false}
			if strings.Contains(tg.RawSQL, "$__conditionalAll(") {
				modes = append(modes, true)
			}
			for _, all := range modes {
				sel := sel
				sel.allFirst = all
				t.Run(fmt.Sprintf("%s/all=%v", p.Title, all), func(t *testing.T) {
					q := expand(t, tg.RawSQL, sel)
					res := query(t, ctx, s, q)
					if len(res.rows) == 0 {
						t.Fatalf("no rows over the seeded data:\n%s", q)
					}
					if p.Type == "timeseries" && (res.columns[0] != "time" || res.types[0] != "DateTime") {
						t.Errorf("first column %s %s, want time DateTime (Grafana's time column)", res.columns[0], res.types[0])
					}
					if f := res.column("feature"); f != nil && !all && p.Title != "Alert history" {
						if got := slices.Compact(slices.Sorted(slices.Values(strs(f)))); !slices.Equal(got, []string{"amount"}) {
							t.Errorf("with Feature = amount the panel shows features %v", got)
						}
					}
					checkPanelValues(t, p.Title, all, res, base)
				})
				checked++
			}
		}
	}
	if checked < 9 {
		t.Errorf("ran %d ClickHouse panel queries, want at least 9", checked)
	}
}

// checkPanelValues checks the numbers of the main panels over the seeded data.
func checkPanelValues(t *testing.T, title string, all bool, res result, base time.Time) {
	t.Helper()
	switch title {
	case "Events per window":
		if len(res.rows) != 10 {
			t.Fatalf("%d buckets, want 10", len(res.rows))
		}
		for m, row := range res.rows {
			if ts := row[0].(time.Time); !ts.Equal(base.Add(time.Duration(m) * time.Minute)) {
				t.Errorf("bucket %d at %v, want %v", m, ts, base.Add(time.Duration(m)*time.Minute))
			}
			if got, want := fmt.Sprint(row[1]), strconv.Itoa(150+m); got != want {
				t.Errorf("minute %d: %s events per window, want %s (both partitions, newest write only)", m, got, want)
			}
		}
	case "Late and rejected events":
		if got := strs(res.rows[0][1:]); !slices.Equal(got, []string{"2", "4"}) {
			t.Errorf("late, rejected = %v, want [2 4] (two partitions)", got)
		}
	case "Drifted features per window":
		if got := strs(res.rows[4][1:]); !slices.Equal(got, []string{"0", "0"}) {
			t.Errorf("minute 4: drifted, critical = %v, want [0 0]", got)
		}
		if got := strs(res.rows[9][1:]); !slices.Equal(got, []string{"2", "1"}) {
			t.Errorf("minute 9: drifted, critical = %v, want [2 1]", got)
		}
	case "Latest severity per feature and test":
		sev := strs(res.column("last_severity"))
		if len(sev) == 0 || sev[0] != "critical" {
			t.Errorf("severities %v: want critical first", sev)
		}
		n := 4 // amount: psi, js, wasserstein_norm, ks
		if all {
			n = 7 // and country: psi, js, chi2
		}
		if len(res.rows) != n {
			t.Errorf("%d rows, want %d (one per feature and test)", len(res.rows), n)
		}
	case "Alert history":
		if got := strs(res.column("outcome")); !slices.Equal(got, []string{"success", "retry", "", ""}) {
			t.Errorf("outcomes %v, want newest first: success, retry, then the two state rows", got)
		}
	}
}
