package dashboards

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"reflect"
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

// openStore returns a Store on a fresh, migrated database of the test server, dropped after the test.
func openStore(t *testing.T, ctx context.Context) *storage.Store {
	t.Helper()
	addr := clickhouseAddr(t)
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
	return s
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

// option is one entry of a variable's dropdown: the value Grafana interpolates and the text it shows.
type option struct{ value, text string }

// variableOptions runs a ClickHouse variable's query under sel and returns the options the plugin's
// metricFindQuery makes of its result: with one column, each value is its own text; with more, the
// first column is the value and the second the text. It checks that every value is the hex of its
// text, which the dashboards' filters decode.
func variableOptions(t *testing.T, ctx context.Context, s *storage.Store, v jsonVariable, sel selection) []option {
	t.Helper()
	q := expand(t, v.Query, sel)
	res := query(t, ctx, s, q)
	if len(res.columns) != 2 {
		t.Fatalf("variable %s: %d columns, want 2 (value, text):\n%s", v.Name, len(res.columns), q)
	}
	opts := make([]option, len(res.rows))
	for i, row := range res.rows {
		opts[i] = option{value: fmt.Sprint(row[0]), text: fmt.Sprint(row[1])}
		if want := strings.ToUpper(hex.EncodeToString([]byte(opts[i].text))); opts[i].value != want {
			t.Errorf("variable %s: option %s has value %s, want its hex %s", v.Name, short(opts[i].text), short(opts[i].value), short(want))
		}
	}
	return opts
}

func texts(opts []option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.text
	}
	return out
}

func values(opts []option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.value
	}
	return out
}

// short quotes s for a message, cut to 60 bytes.
func short(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%q... (%d bytes)", s[:60], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// modelDrift returns the committed model drift dashboard and its ClickHouse variables by name.
func modelDrift(t *testing.T) (jsonDashboard, map[string]jsonVariable) {
	t.Helper()
	for _, d := range loadDashboards(t) {
		if d.UID != "driftwatch-model-drift" {
			continue
		}
		vars := map[string]jsonVariable{}
		for _, v := range d.Templating.List {
			if v.Datasource.UID == ClickHouse.UID {
				vars[v.Name] = v
			}
		}
		for _, name := range []string{"model_id", "model_version", "feature"} {
			if _, ok := vars[name]; !ok {
				t.Fatalf("model drift dashboard: no ClickHouse variable %s", name)
			}
		}
		return d, vars
	}
	t.Fatal("no model drift dashboard")
	return jsonDashboard{}, nil
}

// TestClickHouseQueries runs every ClickHouse query of the dashboards, expanded as Grafana would,
// against the real server over rows written by the storage package, and checks what the main
// panels show.
func TestClickHouseQueries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := openStore(t, ctx)
	now := time.Now().UTC()
	base := now.Truncate(time.Minute).Add(-30 * time.Minute)
	fraudFixture(base).write(t, ctx, s, nil)
	from, to := now.Add(-time.Hour), now.Add(5*time.Minute)
	d, vars := modelDrift(t)

	// The variable queries, in order, each seeing the options chosen before it.
	sel := selection{from: from, to: to}
	wantVars := map[string][]string{"model_id": {"churn", "fraud"}, "model_version": {"v1"}, "feature": {"amount", "country"}}
	choose := map[string]string{"model_id": "fraud", "model_version": "v1", "feature": "amount"}
	all := sel
	for _, name := range []string{"model_id", "model_version", "feature"} {
		v := vars[name]
		opts := variableOptions(t, ctx, s, v, sel)
		if got := texts(opts); !slices.Equal(got, wantVars[name]) {
			t.Errorf("variable %s: options %v, want %v", name, got, wantVars[name])
		}
		i := slices.Index(texts(opts), choose[name])
		if i < 0 {
			t.Fatalf("variable %s offers no %s", name, choose[name])
		}
		sel = sel.with(name, []string{opts[i].value}, v.Multi, false)
		all = all.with(name, []string{opts[i].value}, v.Multi, false)
		if v.Multi {
			all = all.with(name, values(opts), true, true)
		}
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
			for _, isAll := range modes {
				sel := sel
				if isAll {
					sel = all
				}
				t.Run(fmt.Sprintf("%s/all=%v", p.Title, isAll), func(t *testing.T) {
					q := expand(t, tg.RawSQL, sel)
					res := query(t, ctx, s, q)
					if len(res.rows) == 0 {
						t.Fatalf("no rows over the seeded data:\n%s", q)
					}
					if p.Type == "timeseries" && (res.columns[0] != "time" || res.types[0] != "DateTime") {
						t.Errorf("first column %s %s, want time DateTime (Grafana's time column)", res.columns[0], res.types[0])
					}
					if f := res.column("feature"); f != nil && !isAll && p.Title != "Alert history" {
						if got := slices.Compact(slices.Sorted(slices.Values(strs(f)))); !slices.Equal(got, []string{"amount"}) {
							t.Errorf("with Feature = amount the panel shows features %v", got)
						}
					}
					checkPanelValues(t, p.Title, isAll, res, base)
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
	case "Heaviest callers":
		// prober-1: 10 windows of 100 calls, 3 probes each for five, then 90:
		// 465 probes of 1,000 scored calls; batch-svc: 600 calls, 30 probes.
		want := [][]string{{"prober-1", "1000", "1000", "465", "0.465", "10"}, {"batch-svc", "600", "600", "30", "0.05", "10"}}
		if len(res.rows) != 2 || !slices.Equal(strs(res.rows[0]), want[0]) || !slices.Equal(strs(res.rows[1]), want[1]) {
			t.Errorf("heaviest callers %v, want %v", res.rows, want)
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

// TestSecurityQueries runs the Security dashboard's queries, expanded as Grafana would, against the
// real server over the seeded rows: prober-1 probing the boundary from minute 5 is named critical by
// caller_probing in five windows; scraper-9 arrives in minute 8, out of distribution (caller_ood,
// critical), diverse (caller_diversity) and new and heavy (caller_new_heavy); batch-svc's volume
// jumps against its own history (caller_volume_history); mallory flips labels in minutes 6 and 7
// (poisoning_label_flip, critical), a content hash floods in minute 7 (poisoning_flood) and the
// sources concentrate in minute 9 (poisoning_concentration, "*"). Each panel shows them as an
// analyst needs: per window, newest first, callers by their figures, callers by signal, sources by
// poisoning signal.
func TestSecurityQueries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := openStore(t, ctx)
	now := time.Now().UTC()
	base := now.Truncate(time.Minute).Add(-30 * time.Minute)
	fraudFixture(base).write(t, ctx, s, nil)
	at := func(m int) (time.Time, time.Time) {
		return base.Add(time.Duration(m) * time.Minute), base.Add(time.Duration(m+1) * time.Minute)
	}
	var sec storage.WindowBatch
	for _, r := range []struct {
		m                        int
		signal, subject, sev, ev string
		effect                   float64
	}{
		{8, "caller_ood", "scraper-9", "critical", "20 of 32 sampled inputs outside the reference's central range", 0.6},
		{8, "caller_diversity", "scraper-9", "warning", "290 distinct inputs in 300 calls", 0.7},
		{8, "caller_new_heavy", "scraper-9", "warning", "300 calls from a caller without a history", 40},
		{8, "caller_volume_history", "batch-svc", "warning", "600 against the caller's own median of 60", 7.2},
		{6, "poisoning_label_flip", "mallory", "critical", "mallory flipped 50 of 100", 0.5},
		{7, "poisoning_label_flip", "mallory", "critical", "mallory flipped 60 of 100", 0.55},
		{7, "poisoning_flood", "content:abc", "warning", "40 copies of content:abc", 12},
		{9, "poisoning_concentration", "*", "warning", "HHI 0.4", 0.3},
	} {
		start, end := at(r.m)
		sec.Signals = append(sec.Signals, storage.SignalRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: start, WindowEnd: end,
			Signal: r.signal, Subject: r.subject, Statistic: r.effect, PValue: 1e-6, Effect: r.effect, Threshold: 0.1, Severity: r.sev,
			N: 100, Evidence: r.ev, ReferenceID: "ref-1"})
	}
	start8, end8 := at(8)
	sec.Callers = append(sec.Callers, storage.CallerRow{ModelID: "fraud", ModelVersion: "v1", WindowStart: start8, WindowEnd: end8,
		Caller: "scraper-9", Calls: 300, InputCalls: 300, DistinctInputs: 290, OODSampled: 32, OODOutside: 20, ClassCalls: 300, ClassEntropy: 0.9})
	if err := s.WriteWindows(ctx, sec); err != nil {
		t.Fatal(err)
	}
	sel := selection{from: now.Add(-time.Hour), to: now.Add(5 * time.Minute)}
	var d *jsonDashboard
	for _, x := range loadDashboards(t) {
		if x.UID == "driftwatch-security" {
			d = &x
		}
	}
	if d == nil {
		t.Fatal("no security dashboard")
	}
	checked := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q := expand(t, tg.RawSQL, sel)
			res := query(t, ctx, s, q)
			checked++
			switch p.Title {
			case "Security verdicts per window":
				if len(res.rows) != 5 || res.columns[0] != "time" {
					t.Fatalf("%d buckets (%v), want the five minutes from minute 5", len(res.rows), res.columns)
				}
				want := []string{"[0 1]", "[0 2]", "[1 2]", "[3 2]", "[1 1]"} // warnings, critical
				for i, row := range res.rows {
					if ts := row[0].(time.Time); !ts.Equal(base.Add(time.Duration(5+i)*time.Minute)) || fmt.Sprint(row[1:]) != want[i] {
						t.Errorf("bucket %d: %v, want minute %d with %s", i, row, 5+i, want[i])
					}
				}
			case "Security verdicts":
				if len(res.rows) != 13 {
					t.Fatalf("%d verdicts, want 13", len(res.rows))
				}
				first := res.rows[0]
				if ts := first[0].(time.Time); !ts.Equal(base.Add(9*time.Minute)) ||
					!slices.Equal(strs(first[1:6]), []string{"fraud", "v1", "caller_probing", "prober-1", "critical"}) ||
					!strings.Contains(fmt.Sprint(first[8]), "90 of 100") {
					t.Errorf("newest verdict %v", first)
				}
			case "Callers across models":
				want := [][]string{{"prober-1", "1", "1000", "1000", "465", "0.465", "0", "0", "0", "10"},
					{"batch-svc", "1", "600", "600", "30", "0.05", "0", "0", "0", "10"},
					{"scraper-9", "1", "300", "0", "0", "0", "0.9667", "0.625", "0.9", "1"}}
				if len(res.rows) != 3 || !slices.Equal(strs(res.rows[0]), want[0]) || !slices.Equal(strs(res.rows[1]), want[1]) ||
					!slices.Equal(strs(res.rows[2]), want[2]) {
					t.Errorf("callers %v, want %v", res.rows, want)
				}
			case "Top callers by signal":
				want := []string{
					"[caller_probing prober-1 5 0 0.85 [fraud] 90 of 100 scored calls within 0.05 of the threshold]",
					"[caller_ood scraper-9 1 0 0.6 [fraud] 20 of 32 sampled inputs outside the reference's central range]",
					"[caller_new_heavy scraper-9 0 1 40 [fraud] 300 calls from a caller without a history]",
					"[caller_volume_history batch-svc 0 1 7.2 [fraud] 600 against the caller's own median of 60]",
					"[caller_diversity scraper-9 0 1 0.7 [fraud] 290 distinct inputs in 300 calls]",
				}
				if got := rowStrings(res.rows); !slices.Equal(got, want) {
					t.Errorf("callers by signal\n got %q\nwant %q", got, want)
				}
			case "Poisoning by source":
				want := []string{
					"[poisoning_label_flip mallory 2 0 0.55 [fraud] mallory flipped 60 of 100]",
					"[poisoning_flood content:abc 0 1 12 [fraud] 40 copies of content:abc]",
				}
				if got := rowStrings(res.rows); !slices.Equal(got, want) {
					t.Errorf("poisoning by source\n got %q\nwant %q", got, want)
				}
			default:
				t.Errorf("panel %q has no expected values", p.Title)
			}
		}
	}
	if checked != 5 {
		t.Errorf("ran %d queries, want 5", checked)
	}
}

// rowStrings returns each row printed.
func rowStrings(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r)
	}
	return out
}
