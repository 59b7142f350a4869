package policy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// modelInput is one verdict of one key.
type modelInput struct {
	k Key
	v Verdict
}

// modelPolicy is the policy of the per-model tests: a psi rule with
// hysteresis and for/keep_firing_for, the default rule for the others.
const modelPolicy = `
rules:
  - name: psi
    match: {signals: [psi]}
    thresholds: {warning: {enter: 0.1, exit: 0.08}, critical: {enter: 0.25, exit: 0.2}}
    for: 2
    keep_firing_for: 2
    min_samples: 100
`

// modelKeys are the keys of the per-model tests: three models, one with
// two versions, and a model named as a prefix of another.
var modelKeys = []Key{
	{"a", "1", "psi", "x"}, {"a", "1", "psi", "y"}, {"a", "2", "psi", "x"}, {"a", "1", "ks", "x"},
	{"b", "2", "psi", "x"}, {"b", "2", "error_rate", "*"},
	{"ab", "1", "psi", "x"}, {"ab", "1", "psi", "z"},
}

// modelInputs returns windows rows of one verdict per key of modelKeys,
// in regimes of 20 windows that are quiet or around the thresholds.
func modelInputs(windows int) [][]modelInput {
	rng := rand.New(rand.NewPCG(3, 4))
	sevs := []Severity{SeverityOK, SeverityOK, SeverityWarning, SeverityCritical}
	var rows [][]modelInput
	for w := range windows {
		var row []modelInput
		start := t0.Add(time.Duration(w) * time.Minute)
		for i, k := range modelKeys {
			base := 0.02
			if (w/20+i)%3 == 0 {
				base = 0.15
			}
			row = append(row, modelInput{k, Verdict{WindowStart: start, WindowEnd: start.Add(time.Minute),
				Value: base + rng.NormFloat64()*0.07, Severity: sevs[rng.IntN(4)], Samples: 50 + rng.IntN(500)}})
		}
		rows = append(rows, row)
	}
	return rows
}

// observeRows runs rows through the evaluator pick returns for each key
// and writes each transition as "window key from>to/severity".
func observeRows(pick func(Key) *Evaluator, rows [][]modelInput) []string {
	var out []string
	for _, row := range rows {
		for _, x := range row {
			if tr := pick(x.k).Observe(x.k, x.v).Transition; tr != nil {
				out = append(out, fmt.Sprintf("%s %s %s>%s/%s", tr.WindowEnd.Format("15:04"), tr.Key, tr.From, tr.To, tr.Severity))
			}
		}
	}
	return out
}

// ofModel returns the series of s whose key names model.
func ofModel(s []SeriesSnapshot, model string) []SeriesSnapshot {
	var out []SeriesSnapshot
	for _, ss := range s {
		if ss.Key.Model == model {
			out = append(out, ss)
		}
	}
	return out
}

// TestEvaluatorSnapshotModel: a model's snapshot is the whole snapshot
// filtered to the model, at every point of a run.
func TestEvaluatorSnapshotModel(t *testing.T) {
	e := NewEvaluator(mustParse(t, modelPolicy))
	rows := modelInputs(300)
	models := []string{"a", "b", "ab", "none", ""}
	nonEmpty := map[string]bool{}
	for w, row := range rows {
		observeRows(func(Key) *Evaluator { return e }, [][]modelInput{row})
		whole := e.Snapshot().Series
		for _, model := range models {
			got, want := e.SnapshotModel(model), ofModel(whole, model)
			if !slices.Equal(got, want) {
				t.Fatalf("window %d: SnapshotModel(%q)\n got %+v\nwant %+v", w, model, got, want)
			}
			if len(got) > 0 {
				nonEmpty[model] = true
			}
		}
	}
	for _, model := range []string{"a", "b", "ab"} {
		if !nonEmpty[model] {
			t.Errorf("model %s never had a pending or firing alert: the test exercises nothing", model)
		}
	}
}

// TestEvaluatorRestoreModel: restoring one model replaces that model's
// state only; a refused state changes nothing.
func TestEvaluatorRestoreModel(t *testing.T) {
	firing := SeriesState{State: StateFiring, Level: SeverityCritical, Severity: SeverityCritical,
		StartsAt: t0, FiredAt: t0.Add(3 * time.Minute), LastWindowEnd: t0.Add(5 * time.Minute)}
	pending := SeriesState{State: StatePending, Level: SeverityWarning, Severity: SeverityWarning, Breaching: 1,
		StartsAt: t0, LastWindowEnd: t0.Add(2 * time.Minute)}
	ax, ay, a2 := Key{"a", "1", "psi", "x"}, Key{"a", "1", "psi", "y"}, Key{"a", "2", "psi", "x"}
	bx := Key{"b", "2", "psi", "x"}
	before := []SeriesSnapshot{{ax, pending}, {ay, firing}, {Key{"ab", "1", "psi", "x"}, firing}, {bx, pending}}
	cases := []struct {
		name   string
		model  string
		series []SeriesSnapshot
		want   []SeriesSnapshot // the whole snapshot after
		err    string
	}{
		{"replaces the model's keys", "a", []SeriesSnapshot{{a2, firing}, {ax, firing}},
			[]SeriesSnapshot{{ax, firing}, {a2, firing}, {Key{"ab", "1", "psi", "x"}, firing}, {bx, pending}}, ""},
		{"empty drops the model", "a", nil,
			[]SeriesSnapshot{{Key{"ab", "1", "psi", "x"}, firing}, {bx, pending}}, ""},
		{"inactive keys keep no state", "a", []SeriesSnapshot{{ax, SeriesState{LastWindowEnd: t0}}, {ay, pending}},
			[]SeriesSnapshot{{ay, pending}, {Key{"ab", "1", "psi", "x"}, firing}, {bx, pending}}, ""},
		{"a model with none before", "c", []SeriesSnapshot{{Key{"c", "1", "psi", "x"}, pending}},
			append(slices.Clone(before), SeriesSnapshot{Key{"c", "1", "psi", "x"}, pending}), ""},
		{"a model with none stays so", "c", nil, before, ""},
		{"key of another model", "a", []SeriesSnapshot{{ax, firing}, {bx, firing}}, before,
			"restoring the alert state of a: series[1] (b/2/psi/x): key of another model"},
		{"unknown state", "a", []SeriesSnapshot{{ax, SeriesState{State: "exploded"}}}, before,
			`restoring the alert state of a: series[0] (a/1/psi/x): unknown state "exploded"`},
		{"unknown severity", "a", []SeriesSnapshot{{ax, SeriesState{State: StateFiring, Level: "fatal"}}}, before,
			`restoring the alert state of a: series[0] (a/1/psi/x): unknown severity "fatal"`},
		{"key twice", "a", []SeriesSnapshot{{ax, firing}, {ay, firing}, {ax, pending}}, before,
			"restoring the alert state of a: series[2] (a/1/psi/x): key listed twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := NewEvaluator(mustParse(t, modelPolicy))
			if err := e.Restore(EvaluatorState{Series: before}); err != nil {
				t.Fatal(err)
			}
			err := e.RestoreModel(c.model, c.series)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("RestoreModel = %v, want error %s", err, c.err)
				}
			} else if err != nil {
				t.Fatalf("RestoreModel: %v", err)
			}
			if got := e.Snapshot().Series; !slices.Equal(got, c.want) {
				t.Errorf("after RestoreModel:\n got %+v\nwant %+v", got, c.want)
			}
			if _, ok := e.models[c.model]; ok && len(e.SnapshotModel(c.model)) == 0 {
				t.Errorf("model %s keeps an empty entry", c.model)
			}
		})
	}
}

// TestEvaluatorModelRoundTrip: one model taken over by another evaluator
// through its JSON snapshot, cut at several points, while the others stay
// where they are, gives the transitions of an uninterrupted run.
func TestEvaluatorModelRoundTrip(t *testing.T) {
	p := mustParse(t, modelPolicy)
	rows := modelInputs(400)
	whole := NewEvaluator(p)
	through := observeRows(func(Key) *Evaluator { return whole }, rows)
	fired := map[string]int{}
	for _, tr := range through {
		f := strings.Fields(tr) // window, key, from>to/severity
		if model, _, _ := strings.Cut(f[1], "/"); strings.Contains(f[2], ">firing") && !strings.HasPrefix(f[2], "firing") {
			fired[model]++
		}
	}
	for _, model := range []string{"a", "b", "ab"} {
		if fired[model] == 0 {
			t.Fatalf("model %s never fires: the series does not exercise the lifecycle (%v)", model, fired)
		}
	}
	for _, model := range []string{"a", "b", "ab"} {
		for _, cut := range []int{1, 57, 200, 333} {
			first := NewEvaluator(p)
			got := observeRows(func(Key) *Evaluator { return first }, rows[:cut])
			b, err := json.Marshal(first.SnapshotModel(model))
			if err != nil {
				t.Fatal(err)
			}
			var series []SeriesSnapshot
			if err := json.Unmarshal(b, &series); err != nil {
				t.Fatal(err)
			}
			// The new owner of the model already decides other models.
			second := NewEvaluator(p)
			other := SeriesSnapshot{Key: Key{"z", "1", "psi", "x"}, State: SeriesState{State: StatePending, Level: SeverityWarning,
				Severity: SeverityWarning, Breaching: 1, StartsAt: t0, LastWindowEnd: t0.Add(time.Minute)}}
			if err := second.RestoreModel("z", []SeriesSnapshot{other}); err != nil {
				t.Fatal(err)
			}
			if err := second.RestoreModel(model, series); err != nil {
				t.Fatal(err)
			}
			if err := first.RestoreModel(model, nil); err != nil { // handed over
				t.Fatal(err)
			}
			got = append(got, observeRows(func(k Key) *Evaluator {
				if k.Model == model {
					return second
				}
				return first
			}, rows[cut:])...)
			if !slices.Equal(got, through) {
				t.Errorf("model %s cut at window %d: transitions differ from an uninterrupted run\n got %v\nwant %v", model, cut, got, through)
			}
			if len(first.SnapshotModel(model)) != 0 {
				t.Errorf("model %s cut at window %d: the evaluator that handed it over kept state", model, cut)
			}
			if z := second.SnapshotModel("z"); !slices.Equal(z, []SeriesSnapshot{other}) {
				t.Errorf("model %s cut at window %d: the other model of the new owner changed: %+v", model, cut, z)
			}
		}
	}
}
