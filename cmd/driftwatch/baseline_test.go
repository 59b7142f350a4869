package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/stat"
	"github.com/driftwatch/driftwatch/internal/chtest"
	"github.com/driftwatch/driftwatch/storage"
)

const baselineDir = "testdata/baseline/"

// baselineStore opens a fresh database on the test server (failing, not
// skipping, when it is unreachable), drops it when the test ends, and returns
// the store and the environment that points the command at it.
func baselineStore(t *testing.T) (*storage.Store, []string) {
	t.Helper()
	s, addr, db := chtest.Open(t, "dw_baseline", true)
	return s, []string{"DRIFTWATCH_CLICKHOUSE_ADDR=" + addr, "DRIFTWATCH_CLICKHOUSE_DATABASE=" + db}
}

// baseline runs 'driftwatch baseline args...' and returns its exit code and output.
func baseline(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, append([]string{"baseline"}, args...), &out, &errb, env)
	return code, out.String(), errb.String()
}

// mustBaseline runs a baseline command that must succeed.
func mustBaseline(t *testing.T, env []string, args ...string) string {
	t.Helper()
	code, out, errs := baseline(t, env, args...)
	if code != 0 {
		t.Fatalf("baseline %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errs)
	}
	return out
}

var refIDPattern = regexp.MustCompile(`^reference ([0-9a-f]{16}) of model \S+ version \S+ (stored|unchanged|reactivated): `)

// importedID returns the id and outcome an import or pin printed.
func importedID(t *testing.T, out string) (string, string) {
	t.Helper()
	m := refIDPattern.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no reference id and outcome in %q", out)
	}
	return m[1], m[2]
}

// listLine returns the list line of reference id, or fails.
func listLine(t *testing.T, list, id string) []string {
	t.Helper()
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == id {
			return f
		}
	}
	t.Fatalf("reference %s not listed:\n%s", id, list)
	return nil
}

func showJSON(t *testing.T, env []string, args ...string) (int, []shownReference) {
	t.Helper()
	code, out, errs := baseline(t, env, append([]string{"show", "--format", "json"}, args...)...)
	var refs []shownReference
	if err := json.Unmarshal([]byte(out), &refs); err != nil {
		t.Fatalf("show --format json: %v\nstdout:\n%s\nstderr:\n%s", err, out, errs)
	}
	return code, refs
}

type expectedBaseline struct {
	Rows    int `json:"rows"`
	Numeric map[string]struct {
		N    uint64  `json:"n"`
		Mean float64 `json:"mean"`
		Bins map[string]struct {
			Edges  []float64 `json:"edges"`
			Counts []uint64  `json:"counts"`
		} `json:"bins"`
	} `json:"numeric"`
}

func TestBaselineImportListShow(t *testing.T) {
	s, env := baselineStore(t)
	b, err := os.ReadFile(baselineDir + "expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp expectedBaseline
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}

	// The same data as CSV and as JSON Lines: one id, the second import unchanged.
	out := mustBaseline(t, env, "import", "--model", "fraud", "--version", "v1", "--file", baselineDir+"ref.csv", "--exclude", "row_id")
	id1, outcome := importedID(t, out)
	if outcome != "stored" || !strings.Contains(out, "6 features (4 numeric, 2 categorical) from 600 rows") {
		t.Errorf("first import: %q", out)
	}
	code, out, errs := baseline(t, env, "import", "--model", "fraud", "--version", "v1", "--file", baselineDir+"ref.jsonl",
		"--exclude", "row_id", "--progress")
	if code != 0 || !strings.Contains(errs, "ref.jsonl: 600 rows, 7 columns") {
		t.Fatalf("JSONL import with --progress: exit %d, stderr %q", code, errs)
	}
	if id, outcome := importedID(t, out); id != id1 || outcome != "unchanged" {
		t.Errorf("JSONL import of the same data: id %s %s, want %s unchanged", id, outcome, id1)
	}

	list := mustBaseline(t, env, "list")
	if f := listLine(t, list, id1); f[0] != "fraud" || f[1] != "v1" || f[3] != "import" || f[len(f)-1] != "yes" {
		t.Errorf("list line %v: want fraud v1 import ... yes", f)
	}
	if n := strings.Count(list, "\n"); n != 2 {
		t.Errorf("list has %d lines, want a header and one reference (an unchanged import writes nothing):\n%s", n, list)
	}

	// show prints every numeric feature's edges (exactly numpy's) and counts.
	out = mustBaseline(t, env, "show", "--model", "fraud")
	if !strings.Contains(out, "reference "+id1) || !strings.Contains(out, "content: ok") || !strings.Contains(out, "(active)") {
		t.Errorf("show header:\n%s", out)
	}
	for name, e := range exp.Numeric {
		bins := e.Bins["10"]
		edges := make([]string, len(bins.Edges))
		for i, v := range bins.Edges {
			edges[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		if want := name + " edges:  " + strings.Join(edges, " ") + "\n"; !strings.Contains(out, want) {
			t.Errorf("show lacks %q", want)
		}
		if want := name + " counts: " + joinUints(bins.Counts) + "\n"; !strings.Contains(out, want) {
			t.Errorf("show lacks %q", want)
		}
	}
	if !strings.Contains(out, `country categories (complete: any other value is new): "DE"=175 "FR"=152`) {
		t.Errorf("show lacks the country categories:\n%s", out)
	}
	code, refs := showJSON(t, env, "--model", "fraud", "--version", "v1")
	if code != 0 || len(refs) != 1 || refs[0].ID != id1 || refs[0].Modified || !refs[0].Active || refs[0].Source != "import" {
		t.Fatalf("show json: exit %d, %+v", code, refs)
	}
	for _, f := range refs[0].Features {
		if f.Kind != analysis.KindNumeric {
			continue
		}
		e := exp.Numeric[f.Name]
		if f.N != e.N || math.Abs(*f.Mean-e.Mean) > 1e-12*math.Abs(e.Mean) || !slices.Equal(f.Edges, e.Bins["10"].Edges) ||
			!slices.Equal(f.Counts, e.Bins["10"].Counts) {
			t.Errorf("%s: n %d mean %g edges %v counts %v; numpy n %d mean %g edges %v counts %v", f.Name, f.N, *f.Mean, f.Edges, f.Counts,
				e.N, e.Mean, e.Bins["10"].Edges, e.Bins["10"].Counts)
		}
	}

	// Different data: a new id, now the active one, the first kept.
	out = mustBaseline(t, env, "import", "--model", "fraud", "--version", "v1", "--file", baselineDir+"other.csv", "--exclude", "row_id")
	id2, outcome := importedID(t, out)
	if id2 == id1 || outcome != "stored" {
		t.Errorf("other data: id %s %s, want a new id stored", id2, outcome)
	}
	list = mustBaseline(t, env, "list", "--model", "fraud")
	if a, b := listLine(t, list, id1), listLine(t, list, id2); a[len(a)-1] != "no" || b[len(b)-1] != "yes" {
		t.Errorf("after the second import %s must be active, not %s:\n%s", id2, id1, list)
	}
	rows, err := s.LoadReferences(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0].ReferenceID != id2 {
		t.Errorf("the monitor's LoadReferences reads %v, want %s", rows, id2)
	}
	// The first data again: active again.
	out = mustBaseline(t, env, "import", "--model", "fraud", "--version", "v1", "--file", baselineDir+"ref.csv", "--exclude", "row_id")
	if id, outcome := importedID(t, out); id != id1 || outcome != "reactivated" {
		t.Errorf("re-import of the first data: %s %s, want %s reactivated", id, outcome, id1)
	}
	if code, refs := showJSON(t, env, "--model", "fraud"); code != 0 || len(refs) != 1 || refs[0].ID != id1 {
		t.Errorf("show after reactivation: exit %d, %+v", code, refs)
	}
	if code, refs := showJSON(t, env, "--model", "fraud", "--id", id2); code != 0 || len(refs) != 1 || refs[0].ID != id2 || refs[0].Active {
		t.Errorf("show --id %s: exit %d, %+v", id2, code, refs)
	}

	// Unknown model, version and id.
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"show", "--model", "nope"}, "no reference for model nope"},
		{[]string{"list", "--model", "nope"}, "no reference for model nope"},
		{[]string{"show", "--model", "fraud", "--version", "v9"}, "no reference for model fraud version v9"},
		{[]string{"show", "--model", "fraud", "--id", "0123456789abcdef"}, "no reference 0123456789abcdef for model fraud"},
	} {
		if code, out, errs := baseline(t, env, c.args...); code != 1 || !strings.Contains(errs, c.says) {
			t.Errorf("%v: exit %d, stdout %q stderr %q; want exit 1 saying %q", c.args, code, out, errs, c.says)
		}
	}

	// Tampering: a modified copy of one stored row, newer, replaces it.
	rows, err = s.LoadReferences(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rows, func(r storage.ReferenceRow) bool { return r.Feature == "amount" })
	if i < 0 || rows[i].ReferenceID != id1 {
		t.Fatalf("active amount row of %s not found in %d rows", id1, len(rows))
	}
	bad := rows[i]
	bad.BinCounts = slices.Clone(bad.BinCounts)
	bad.BinCounts[0]++
	bad.CreatedAt = bad.CreatedAt.Add(time.Minute)
	if err := s.SaveReference(context.Background(), []storage.ReferenceRow{bad}); err != nil {
		t.Fatal(err)
	}
	code, out, errs = baseline(t, env, "show", "--model", "fraud")
	if code != 1 || !strings.Contains(out, "content: MODIFIED") || !strings.Contains(errs, "modified") || !strings.Contains(errs, id1) {
		t.Errorf("tampered reference: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 reporting %s modified", code, out, errs, id1)
	}
	if code, refs := showJSON(t, env, "--model", "fraud"); code != 1 || len(refs) != 1 || !refs[0].Modified || refs[0].ContentHash == id1 {
		t.Errorf("tampered reference, json: exit %d, %+v", code, refs)
	}
}

// windowStats summarises values like a closed window's feature row, binned by edges.
func windowStats(r storage.FeatureRow, values []float64, edges []float64) storage.FeatureRow {
	r.Kind = analysis.KindNumeric
	r.Count = uint64(len(values))
	r.BinEdges, r.BinCounts = edges, make([]uint64, len(edges)+1)
	r.Min, r.Max = math.Inf(1), math.Inf(-1)
	for _, v := range values {
		r.Mean += v / float64(len(values))
		r.BinCounts[stat.BinIndex(edges, v)]++
		r.Min, r.Max = math.Min(r.Min, v), math.Max(r.Max, v)
	}
	for _, v := range values {
		r.Variance += (v - r.Mean) * (v - r.Mean) / float64(len(values))
	}
	return r
}

func TestBaselinePin(t *testing.T) {
	s, env := baselineStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	edges := []float64{10, 20, 30}
	var batch storage.WindowBatch
	var all []float64 // the values of v2's first two windows
	catCounts := map[string]uint64{}
	for w := range 3 {
		start := base.Add(time.Duration(w) * time.Minute)
		for p := range int32(2) {
			fr := storage.FeatureRow{ModelID: "pinme", ModelVersion: "v2", WindowStart: start, WindowEnd: start.Add(time.Minute),
				KafkaPartition: p, Feature: "latency", ReferenceID: "r0"}
			values := make([]float64, 50+rng.IntN(100))
			for i := range values {
				values[i] = 20 + 8*rng.NormFloat64()
			}
			e := edges
			if w == 2 {
				e = []float64{10, 20, 31} // counted against another reference
			} else {
				all = append(all, values...)
			}
			batch.Features = append(batch.Features, windowStats(fr, values, e))
			cr := fr
			cr.Feature, cr.Kind, cr.Count = "country", analysis.KindCategorical, 30
			cr.Mean, cr.Variance, cr.Min, cr.Max = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			cr.Categories, cr.CategoryCounts, cr.OtherCount = []string{"DE", "FR"}, []uint64{uint64(20 - w), uint64(8 + w)}, 2
			batch.Features = append(batch.Features, cr)
			if w < 2 {
				catCounts["DE"] += uint64(20 - w)
				catCounts["FR"] += uint64(8 + w)
				catCounts["other"] += 2
			}
		}
		v3 := storage.FeatureRow{ModelID: "pinme", ModelVersion: "v3", WindowStart: start, WindowEnd: start.Add(time.Minute),
			Feature: "latency"}
		batch.Features = append(batch.Features, windowStats(v3, []float64{1, 2, 3}, edges))
	}
	if err := s.WriteWindows(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	from, to := base.Format(time.RFC3339), base.Add(2*time.Minute).Format(time.RFC3339)

	// Two versions in the range: the version must be chosen.
	if code, _, errs := baseline(t, env, "pin", "--model", "pinme", "--from", from, "--to", to); code != 1 ||
		!strings.Contains(errs, "versions v2, v3") || !strings.Contains(errs, "--version") {
		t.Errorf("pin without --version: exit %d, stderr %q", code, errs)
	}
	out := mustBaseline(t, env, "pin", "--model", "pinme", "--version", "v2", "--from", from, "--to", to)
	id, outcome := importedID(t, out)
	if outcome != "stored" || !strings.Contains(out, "2 features (1 numeric, 1 categorical) from 2 windows") {
		t.Errorf("pin: %q", out)
	}
	out = mustBaseline(t, env, "pin", "--model", "pinme", "--version", "v2", "--from", from, "--to", to)
	if id2, outcome := importedID(t, out); id2 != id || outcome != "unchanged" {
		t.Errorf("second pin of the same windows: %s %s, want %s unchanged", id2, outcome, id)
	}

	// The pinned reference is the union of the windows' values.
	code, refs := showJSON(t, env, "--model", "pinme", "--version", "v2")
	if code != 0 || len(refs) != 1 || refs[0].ID != id || refs[0].Modified || refs[0].Windows != 2 ||
		refs[0].Source != "pin:2026-11-02T10:00:00Z..2026-11-02T10:02:00Z" {
		t.Fatalf("show pinned: exit %d %+v", code, refs)
	}
	want := windowStats(storage.FeatureRow{}, all, edges)
	for _, f := range refs[0].Features {
		switch f.Name {
		case "latency":
			if f.N != want.Count || !slices.Equal(f.Counts, want.BinCounts) || *f.Min != want.Min || *f.Max != want.Max ||
				math.Abs(*f.Mean-want.Mean) > 1e-12*want.Mean || math.Abs(*f.Std-math.Sqrt(want.Variance)) > 1e-10 ||
				*f.SampleSize != 0 || !slices.Equal(f.Edges, edges) {
				t.Errorf("latency: %+v mean %g std %g; union n %d counts %v mean %g std %g", f, *f.Mean, *f.Std,
					want.Count, want.BinCounts, want.Mean, math.Sqrt(want.Variance))
			}
		case "country":
			if !slices.Equal(f.Categories, []string{"DE", "FR"}) || !slices.Equal(f.Counts, []uint64{catCounts["DE"], catCounts["FR"]}) ||
				*f.Other != catCounts["other"] || *f.Complete {
				t.Errorf("country: %+v other %d; want DE %d FR %d other %d", f, *f.Other, catCounts["DE"], catCounts["FR"], catCounts["other"])
			}
		default:
			t.Errorf("unexpected feature %q", f.Name)
		}
	}

	// The third window was counted against other edges: pinning over it fails naming the feature.
	code, _, errs := baseline(t, env, "pin", "--model", "pinme", "--version", "v2", "--from", from,
		"--to", base.Add(3*time.Minute).Format(time.RFC3339))
	if code != 1 || !strings.Contains(errs, `feature "latency": windows have different bin edges`) {
		t.Errorf("pin over different edges: exit %d, stderr %q", code, errs)
	}
	code, _, errs = baseline(t, env, "pin", "--model", "pinme", "--version", "v2",
		"--from", "2020-01-01T00:00:00Z", "--to", "2020-01-02T00:00:00Z")
	if code != 1 || !strings.Contains(errs, "no windows of model pinme version v2 between 2020-01-01T00:00:00Z and 2020-01-02T00:00:00Z") {
		t.Errorf("pin of an empty range: exit %d, stderr %q", code, errs)
	}
}

func TestBaselineUsage(t *testing.T) {
	for _, sub := range []string{"import", "pin", "list", "show"} {
		code, out, errs := baseline(t, nil, sub, "--help")
		if code != 0 || !strings.Contains(out, "Usage: driftwatch baseline "+sub) || !strings.Contains(out, "Examples:\n  driftwatch baseline "+sub) {
			t.Errorf("%s --help: exit %d\n%s%s", sub, code, out, errs)
		}
	}
	if code, out, _ := baseline(t, nil, "--help"); code != 0 || !strings.Contains(out, "Subcommands:") {
		t.Errorf("baseline --help: exit %d\n%s", code, out)
	}
	cases := []struct {
		args []string
		code int
		says string
	}{
		{nil, 2, "Subcommands:"},
		{[]string{"frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"import", "--version", "v1", "--file", "x.csv"}, 2, "--model is required"},
		{[]string{"import", "--model", "m", "--file", "x.csv"}, 2, "--version is required"},
		{[]string{"import", "--model", "m", "--version", "v1"}, 2, "--file is required"},
		{[]string{"import", "--model", "m", "--version", "v1", "--file", "x.csv", "--exclude", "a", "--numeric", "a"}, 2, `column "a" is both excluded`},
		{[]string{"import", "--model", "m", "--version", "v1", "--file", baselineDir + "ref.csv", "--exclude", "nope"}, 1, `--exclude: column "nope" is not in`},
		{[]string{"import", "--model", "m", "--version", "v1", "--file", baselineDir + "missing.csv"}, 1, "missing.csv"},
		{[]string{"pin", "--model", "m", "--from", "yesterday", "--to", "2026-01-01T00:00:00Z"}, 2, `--from "yesterday"`},
		{[]string{"pin", "--model", "m", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"}, 2, "must be after --from"},
		{[]string{"show"}, 2, "--model is required"},
		{[]string{"show", "--model", "m", "--format", "xml"}, 2, `--format "xml"`},
		{[]string{"list", "extra"}, 2, "unexpected arguments"},
	}
	for _, c := range cases {
		code, _, errs := baseline(t, nil, c.args...)
		if code != c.code || !strings.Contains(errs, c.says) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d saying %q", c.args, code, errs, c.code, c.says)
		}
	}
}
