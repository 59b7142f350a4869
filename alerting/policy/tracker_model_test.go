package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// newModelsTracker returns a Tracker of one-minute windows with budget b
// for models m and n, budget o for model o, and none for other models.
func newModelsTracker(t *testing.T) *Tracker {
	t.Helper()
	p := mustParse(t, `
budgets:
  - name: b
    models: [m, n]
    budget: 2%
    period: 30d
  - name: o
    models: [o]
    budget: 5%
    period: 7d
`)
	tr, err := NewTracker(p, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// statuses returns the Status of each model, as text, "-" without one.
func statuses(tr *Tracker, models ...string) []string {
	var out []string
	for _, model := range models {
		s, ok := tr.Status(model)
		if !ok {
			out = append(out, model+": -")
			continue
		}
		out = append(out, fmt.Sprintf("%s: %+v", model, s))
	}
	return out
}

// TestTrackerSnapshotModel: one model's snapshot is the entry of the
// whole-tracker snapshot for that model, and there is none for a model
// without a budget or that had no window.
func TestTrackerSnapshotModel(t *testing.T) {
	tr := newModelsTracker(t)
	feed(tr, "m", 0, strings.Repeat("1", 20)+strings.Repeat("0", 50)+"1")
	feed(tr, "n", 10, "0101")
	feed(tr, "o", 0, strings.Repeat("1", 80))
	feed(tr, "x", 0, "1") // no budget matches x
	whole := map[string]BudgetState{}
	for _, bs := range tr.Snapshot().Models {
		whole[bs.Model] = bs
	}
	cases := []struct {
		model string
		ok    bool
	}{{"m", true}, {"n", true}, {"o", true}, {"x", false}, {"never", false}}
	for _, c := range cases {
		got, ok := tr.SnapshotModel(c.model)
		if ok != c.ok {
			t.Errorf("SnapshotModel(%q) ok = %v, want %v", c.model, ok, c.ok)
			continue
		}
		if want := whole[c.model]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("SnapshotModel(%q) = %+v, want the whole snapshot's %+v", c.model, got, want)
		}
	}
	if got, _ := tr.SnapshotModel("o"); len(got.Firing) == 0 {
		t.Errorf("snapshot of o, in breach for 80 windows, has no firing burn alert: %+v", got)
	}
}

// TestTrackerRestoreModel: restoring one model's state replaces that
// model's state only, or refuses and changes nothing.
func TestTrackerRestoreModel(t *testing.T) {
	src := newModelsTracker(t)
	feed(src, "m", 0, strings.Repeat("1", 20)+"00")
	firing, _ := src.SnapshotModel("m") // the fast burn alert fires
	if len(firing.Firing) != 1 || firing.Firing[0].Alert != "fast" {
		t.Fatalf("source state %+v: the fast burn alert should fire", firing)
	}
	badRun := firing
	badRun.Breached = append(slices.Clone(firing.Breached), [2]int64{firing.Head - 3, firing.Head + 1})
	unknownAlert := firing
	unknownAlert.Firing = []FiringBurn{{Alert: "gone", Since: time.Unix(60, 0).UTC()}}
	ancient := firing
	ancient.Seen = [][2]int64{{firing.Head - 100000, firing.Head}}
	ancient.Breached = [][2]int64{{firing.Head - 100000, firing.Head - 50000}}
	other := firing
	other.Model = "x"

	cases := []struct {
		name    string
		before  map[string]string // model → breaches fed before the restore
		restore BudgetState
		err     string // a part of the error, "" when it succeeds
		want    map[string]string
	}{{
		name:    "into an empty tracker",
		restore: firing,
		want:    map[string]string{"m": "breached 20 observed 22 firing [fast]"},
	}, {
		name:    "replaces the model's state, keeps the others",
		before:  map[string]string{"m": strings.Repeat("0", 40), "n": "110", "o": "1"},
		restore: firing,
		want: map[string]string{"m": "breached 20 observed 22 firing [fast]", "n": "breached 2 observed 3 firing []",
			"o": "breached 1 observed 1 firing []"},
	}, {
		name:    "a firing alert the budget no longer has is forgotten",
		restore: unknownAlert,
		want:    map[string]string{"m": "breached 20 observed 22 firing []"},
	}, {
		name:    "windows older than the period are dropped",
		restore: ancient,
		want:    map[string]string{"m": "breached 0 observed 43200 firing [fast]"},
	}, {
		name:    "a model no budget matches is dropped",
		before:  map[string]string{"x": "1", "n": "1"},
		restore: other,
		want:    map[string]string{"n": "breached 1 observed 1 firing []"},
	}, {
		name:    "a run past the newest window is refused",
		before:  map[string]string{"m": "0101", "n": "1"},
		restore: badRun,
		err:     "restoring the budget state of m: breached run",
		want:    map[string]string{"m": "breached 2 observed 4 firing []", "n": "breached 1 observed 1 firing []"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newModelsTracker(t)
			for _, model := range slices.Sorted(maps.Keys(c.before)) {
				feed(tr, model, 0, c.before[model])
			}
			js, err := json.Marshal(c.restore)
			if err != nil {
				t.Fatal(err)
			}
			var st BudgetState
			if err := json.Unmarshal(js, &st); err != nil {
				t.Fatal(err)
			}
			err = tr.RestoreModel(st)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("RestoreModel: %v, want error %q", err, c.err)
			}
			got := map[string]string{}
			for _, model := range []string{"m", "n", "o", "x"} {
				s, ok := tr.Status(model)
				if !ok {
					continue
				}
				var fires []string
				for _, b := range s.Burns {
					if b.Firing {
						fires = append(fires, b.Name)
					}
				}
				got[model] = fmt.Sprintf("breached %d observed %d firing %v", s.Breached, s.Observed, fires)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("after RestoreModel:\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

// TestTrackerModelRoundTrip: each model's state, saved and restored one
// model at a time into a Tracker that tracks other models, gives the same
// transitions and status as a Tracker that ran through, and forgetting
// one model leaves the others as they were.
func TestTrackerModelRoundTrip(t *testing.T) {
	series := map[string]string{
		"m": strings.Repeat("0", 100) + strings.Repeat("1", 30) + strings.Repeat("0", 200) + strings.Repeat("1", 90) + strings.Repeat("0", 80),
		"n": strings.Repeat("01", 250),
		"o": strings.Repeat("0", 300) + strings.Repeat("1", 120) + strings.Repeat("0", 80),
	}
	models := []string{"m", "n", "o"}
	through := newModelsTracker(t)
	want := map[string][]string{}
	for _, model := range models {
		want[model] = feed(through, model, 0, series[model])
	}
	for _, cut := range []int{1, 115, 350, 499} {
		first, second := newModelsTracker(t), newModelsTracker(t)
		got := map[string][]string{}
		for _, model := range models {
			got[model] = feed(first, model, 0, series[model][:cut])
		}
		for _, model := range models {
			bs, ok := first.SnapshotModel(model)
			if !ok {
				t.Fatalf("cut at %d: no state of %s", cut, model)
			}
			if err := second.RestoreModel(bs); err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
		}
		for _, model := range models {
			got[model] = append(got[model], feed(second, model, cut, series[model][cut:])...)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("cut at %d: transitions\n got %v\nwant %v", cut, got, want)
		}
		if g, w := statuses(second, models...), statuses(through, models...); !slices.Equal(g, w) {
			t.Errorf("cut at %d: status\n got %v\nwant %v", cut, g, w)
		}
		second.Forget("n")
		if g, w := statuses(second, models...), []string{statuses(through, "m")[0], "n: -", statuses(through, "o")[0]}; !slices.Equal(g, w) {
			t.Errorf("cut at %d: after forgetting n: status\n got %v\nwant %v", cut, g, w)
		}
	}
}
