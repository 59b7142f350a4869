package detect

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// riverExample is one docstring example of online-ml/river, with the stream
// rebuilt by testdata/detectors/make_streams.py and the detection indices
// copied from the docstring.
type riverExample struct {
	Name       string    `json:"name"`
	Source     string    `json:"source"`
	Config     string    `json:"config"`
	Stream     []float64 `json:"stream"`
	Detections []int     `json:"detections"`
	Values     []float64 `json:"values"`
	Warnings   []int     `json:"warnings"`
}

func loadRiverExamples(t *testing.T) map[string]riverExample {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "detectors", "river_streams.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Examples []riverExample `json:"examples"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]riverExample, len(f.Examples))
	for _, e := range f.Examples {
		m[e.Name] = e
	}
	return m
}

// detections feeds xs to d and returns the indices i at which DriftDetected
// is true right after Update(xs[i]).
func detections(d Detector, xs []float64) []int {
	var out []int
	for i, x := range xs {
		d.Update(x)
		if d.DriftDetected() {
			out = append(out, i)
		}
	}
	return out
}

// mustDetector returns d, panicking on a constructor error.
func mustDetector[T Detector](d T, err error) T {
	if err != nil {
		panic(err)
	}
	return d
}

func TestDetectorsReproduceRiverDocstrings(t *testing.T) {
	ex := loadRiverExamples(t)
	for _, tc := range []struct {
		name string
		make func() (Detector, error)
	}{
		{"PageHinkley", func() (Detector, error) { return NewPageHinkley(PageHinkleyConfig{}) }},
		{"ADWIN", func() (Detector, error) { return NewADWIN(ADWINConfig{}) }},
		{"CUSUM", func() (Detector, error) { return NewCUSUM(CUSUMConfig{}) }},
		{"EWMA", func() (Detector, error) { return NewEWMA(EWMAConfig{Alpha: 0.1, Threshold: 4, MinInstances: 50}) }},
		{"DDM", func() (Detector, error) { return NewDDM(DDMConfig{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := ex[tc.name]
			if !ok || len(e.Stream) == 0 || len(e.Detections) == 0 {
				t.Fatalf("no River example %q in testdata", tc.name)
			}
			d, err := tc.make()
			if err != nil {
				t.Fatal(err)
			}
			got := detections(d, e.Stream)
			if !slices.Equal(got, e.Detections) {
				t.Fatalf("%s on the stream of %s: detections at %v, River's docstring prints %v", e.Config, e.Source, got, e.Detections)
			}
			// The docstrings also print the value at each detection: a check
			// that the rebuilt stream is River's.
			for j, v := range e.Values {
				if e.Stream[e.Detections[j]] != v {
					t.Fatalf("stream[%d] = %g, River's docstring prints %g", e.Detections[j], e.Stream[e.Detections[j]], v)
				}
			}
		})
	}
}

// TestDDMWarningsReproduceRiversDocstring replays the warnings the DDM
// docstring prints: the first warning after the start or after a change.
func TestDDMWarningsReproduceRiversDocstring(t *testing.T) {
	e := loadRiverExamples(t)["DDM"]
	d := mustDetector(NewDDM(DDMConfig{}))
	var warnings []int
	printWarning := true
	for i, x := range e.Stream {
		d.Update(x)
		if d.WarningDetected() && printWarning {
			warnings = append(warnings, i)
			printWarning = false
		}
		if d.DriftDetected() {
			printWarning = true
		}
	}
	if !slices.Equal(warnings, e.Warnings) || len(e.Warnings) == 0 {
		t.Fatalf("warnings at %v, River's docstring prints %v", warnings, e.Warnings)
	}
	for _, c := range []DDMConfig{{WarmStart: -1}, {WarningThreshold: -2}, {WarningThreshold: 3, DriftThreshold: 2}, {DriftThreshold: math.Inf(1)}} {
		if _, err := NewDDM(c); err == nil || !strings.Contains(err.Error(), "ddm: ") {
			t.Errorf("NewDDM(%+v) = %v, want an error naming the field", c, err)
		}
	}
}

func TestDetectorConfigErrorsNameTheField(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name  string
		err   func() error
		field string
	}{
		{"ph min_instances", func() error { _, err := NewPageHinkley(PageHinkleyConfig{MinInstances: -1}); return err }, "min_instances"},
		{"ph delta", func() error { _, err := NewPageHinkley(PageHinkleyConfig{Delta: -0.1}); return err }, "delta"},
		{"ph threshold", func() error { _, err := NewPageHinkley(PageHinkleyConfig{Threshold: -1}); return err }, "threshold"},
		{"ph threshold nan", func() error { _, err := NewPageHinkley(PageHinkleyConfig{Threshold: nan}); return err }, "threshold"},
		{"ph alpha", func() error { _, err := NewPageHinkley(PageHinkleyConfig{Alpha: 1.5}); return err }, "alpha"},
		{"ph mode", func() error { _, err := NewPageHinkley(PageHinkleyConfig{Mode: "sideways"}); return err }, "mode"},
		{"adwin delta", func() error { _, err := NewADWIN(ADWINConfig{Delta: 1}); return err }, "delta"},
		{"adwin clock", func() error { _, err := NewADWIN(ADWINConfig{Clock: -2}); return err }, "clock"},
		{"adwin max_buckets", func() error { _, err := NewADWIN(ADWINConfig{MaxBuckets: -1}); return err }, "max_buckets"},
		{"adwin min_window_length", func() error { _, err := NewADWIN(ADWINConfig{MinWindowLength: -5}); return err }, "min_window_length"},
		{"adwin grace_period", func() error { _, err := NewADWIN(ADWINConfig{GracePeriod: -1}); return err }, "grace_period"},
		{"cusum min_instances", func() error { _, err := NewCUSUM(CUSUMConfig{MinInstances: -3}); return err }, "min_instances"},
		{"cusum slack", func() error { _, err := NewCUSUM(CUSUMConfig{Slack: -1}); return err }, "slack"},
		{"cusum threshold", func() error { _, err := NewCUSUM(CUSUMConfig{Threshold: -5}); return err }, "threshold"},
		{"cusum sigma", func() error { _, err := NewCUSUM(CUSUMConfig{Sigma: -1}); return err }, "sigma"},
		{"cusum mean", func() error { _, err := NewCUSUM(CUSUMConfig{Mean: math.Inf(1), Sigma: 1}); return err }, "mean"},
		{"cusum mode", func() error { _, err := NewCUSUM(CUSUMConfig{Mode: "Both"}); return err }, "mode"},
		{"ewma alpha", func() error { _, err := NewEWMA(EWMAConfig{Alpha: 1.01}); return err }, "alpha"},
		{"ewma threshold", func() error { _, err := NewEWMA(EWMAConfig{Threshold: -4}); return err }, "threshold"},
		{"ewma min_instances", func() error { _, err := NewEWMA(EWMAConfig{MinInstances: -1}); return err }, "min_instances"},
		{"ewma sigma", func() error { _, err := NewEWMA(EWMAConfig{Sigma: nan}); return err }, "sigma"},
		{"ewma mode", func() error { _, err := NewEWMA(EWMAConfig{Mode: "down "}); return err }, "mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil {
				t.Fatal("accepted an invalid config")
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestDetectorZeroConfigTakesRiverDefaults(t *testing.T) {
	ph := mustDetector(NewPageHinkley(PageHinkleyConfig{}))
	if ph.minInstances != 30 || ph.delta != 0.005 || ph.threshold != 50 || ph.alpha != 1-0.0001 || ph.dir != detectorBoth {
		t.Fatalf("page_hinkley defaults: %+v", *ph)
	}
	ad := mustDetector(NewADWIN(ADWINConfig{}))
	if ad.delta != 0.002 || ad.clock != 32 || ad.maxBuckets != 5 || ad.minWindowLength != 5 || ad.gracePeriod != 10 {
		t.Fatalf("adwin defaults: %+v", *ad)
	}
	cu := mustDetector(NewCUSUM(CUSUMConfig{}))
	if cu.minInstances != 30 || cu.slack != 0.5 || cu.threshold != 5 || cu.dir != detectorBoth || cu.known {
		t.Fatalf("cusum defaults: %+v", *cu)
	}
	ew := mustDetector(NewEWMA(EWMAConfig{}))
	if ew.alpha != 0.1 || ew.threshold != 4 || ew.minInstances != 30 || ew.dir != detectorBoth || ew.known {
		t.Fatalf("ewma defaults: %+v", *ew)
	}
}

// runLengthStats summarises run lengths: how many values each of a set of
// streams needed before the first detection.
type runLengthStats struct {
	mean     float64 // mean run length, censored streams counted at their length
	sd       float64 // standard deviation of the run lengths
	median   float64 // median run length
	censored int     // streams without a detection
}

// runLengths feeds each of streams seeded N(0, 1) streams of at most maxLen
// values, plus shift from index change on, to a fresh detector and measures
// the run length counted from change: the number of values from x[change]
// up to and including the first detection at or after change. Detections
// before change (false alarms) only reset the detector, as in production.
func runLengths(newDetector func() Detector, seed uint64, streams, maxLen, change int, shift float64) runLengthStats {
	var sum, sumSq float64
	censored := 0
	all := make([]float64, 0, streams)
	for s := 0; s < streams; s++ {
		rng := rand.New(rand.NewPCG(seed, uint64(s)))
		d := newDetector()
		rl := maxLen - change
		found := false
		for i := 0; i < maxLen; i++ {
			x := rng.NormFloat64()
			if i >= change {
				x += shift
			}
			d.Update(x)
			if i >= change && d.DriftDetected() {
				rl = i - change + 1
				found = true
				break
			}
		}
		if !found {
			censored++
		}
		all = append(all, float64(rl))
		sum += float64(rl)
		sumSq += float64(rl) * float64(rl)
	}
	n := float64(streams)
	mean := sum / n
	slices.Sort(all)
	median := all[len(all)/2]
	if len(all)%2 == 0 {
		median = (all[len(all)/2-1] + all[len(all)/2]) / 2
	}
	return runLengthStats{mean: mean, sd: math.Sqrt(math.Max(sumSq/n-mean*mean, 0) * n / (n - 1)), median: median, censored: censored}
}

// chartReference holds testdata/detectors/charts.json, written by
// make_charts.py from the textbook recursions and Markov-chain ARLs.
type chartReference struct {
	Cases map[string]struct {
		Mean         float64   `json:"mean"`
		Sigma        float64   `json:"sigma"`
		Slack        float64   `json:"slack"`
		Alpha        float64   `json:"alpha"`
		Threshold    float64   `json:"threshold"`
		MinInstances int       `json:"min_instances"`
		Stream       []float64 `json:"stream"`
		Steps        []struct {
			Upper float64 `json:"upper"`
			Lower float64 `json:"lower"`
			Z     float64 `json:"z"`
			Limit float64 `json:"limit"`
			Alarm bool    `json:"alarm"`
		} `json:"steps"`
	} `json:"cases"`
	ARL map[string]map[string]float64 `json:"arl"`
}

func loadChartReference(t *testing.T) chartReference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "detectors", "charts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r chartReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDetectorsIgnoreNonFiniteValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func() Detector
	}{
		{"PageHinkley", func() Detector { return mustDetector(NewPageHinkley(PageHinkleyConfig{})) }},
		{"ADWIN", func() Detector { return mustDetector(NewADWIN(ADWINConfig{})) }},
		{"CUSUM", func() Detector { return mustDetector(NewCUSUM(CUSUMConfig{})) }},
		{"EWMA", func() Detector { return mustDetector(NewEWMA(EWMAConfig{})) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := loadRiverExamples(t)["PageHinkley"].Stream
			clean := detections(tc.make(), stream)
			var dirty []float64
			var index []int // index[j] = position in stream of dirty[j], or -1
			for i, x := range stream {
				if i%7 == 3 {
					dirty = append(dirty, math.NaN(), math.Inf(1), math.Inf(-1))
					index = append(index, -1, -1, -1)
				}
				dirty = append(dirty, x)
				index = append(index, i)
			}
			d := tc.make()
			var got []int
			for j, x := range dirty {
				d.Update(x)
				if index[j] >= 0 && d.DriftDetected() {
					got = append(got, index[j])
				}
			}
			if len(clean) == 0 || !slices.Equal(got, clean) {
				t.Fatalf("with NaN and ±Inf interleaved: detections %v, without: %v", got, clean)
			}
		})
	}
}

// benchStream returns n seeded N(0, 1) values with a 1σ shift in the second
// half, so benchmarks exercise detections and resets.
func benchStream(n int) []float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = rng.NormFloat64()
		if i >= n/2 {
			xs[i]++
		}
	}
	return xs
}

func TestDetectorUpdateDoesNotAllocate(t *testing.T) {
	xs := benchStream(1 << 14)
	for _, tc := range []struct {
		name string
		d    Detector
	}{
		{"PageHinkley", mustDetector(NewPageHinkley(PageHinkleyConfig{}))},
		{"ADWIN", mustDetector(NewADWIN(ADWINConfig{}))},
		{"CUSUM", mustDetector(NewCUSUM(CUSUMConfig{}))},
		{"EWMA", mustDetector(NewEWMA(EWMAConfig{}))},
	} {
		// Warm up: ADWIN allocates a row per doubling of its window, once.
		for _, x := range xs {
			tc.d.Update(x)
		}
		i := 0
		allocs := testing.AllocsPerRun(1, func() {
			for _, x := range xs {
				tc.d.Update(x)
				i++
			}
		})
		if allocs != 0 || i == 0 {
			t.Errorf("%s: %g allocations per %d updates after warm-up", tc.name, allocs, len(xs))
		}
	}
}

// TestDDMCountsOfOneAreUpdates feeds River's docstring stream bit by bit as
// batches of one: the detections are River's.
func TestDDMCountsOfOneAreUpdates(t *testing.T) {
	e := loadRiverExamples(t)["DDM"]
	d := mustDetector(NewDDM(DDMConfig{}))
	var got []int
	for i, x := range e.Stream {
		d.UpdateCounts(uint64(x), 1)
		if d.DriftDetected() {
			got = append(got, i)
		}
	}
	if !slices.Equal(got, e.Detections) {
		t.Fatalf("detections at %v, River's docstring prints %v", got, e.Detections)
	}
}

// TestDDMCountsByHand checks window batches against values worked out by
// hand: 10 failures of 1,000 calls set the minimum p + s = 0.01 + 0.0031464;
// 18 of the next 1,000 give p + s = 0.014 + 0.0026272 = 0.0166272, past the
// warning level 0.01 + 2·0.0031464 = 0.0162928 and short of the drift level
// 0.0194392; 60 of the next 1,000 give p + s = 0.029333 + 0.0030808, past it.
func TestDDMCountsByHand(t *testing.T) {
	d := mustDetector(NewDDM(DDMConfig{}))
	steps := []struct {
		k, n           uint64
		warning, drift bool
		p              float64
	}{
		{10, 1000, false, false, 0.01},
		{18, 1000, true, false, 0.014},
		{60, 1000, false, true, 88.0 / 3000},
		{5, 1000, false, false, 0.005}, // afresh after the detection
	}
	for i, s := range steps {
		d.UpdateCounts(s.k, s.n)
		if d.WarningDetected() != s.warning || d.DriftDetected() != s.drift || math.Abs(d.ErrorRate()-s.p) > 1e-12 {
			t.Errorf("step %d: warning %v drift %v rate %g, want %v %v %g", i, d.WarningDetected(), d.DriftDetected(), d.ErrorRate(), s.warning, s.drift, s.p)
		}
	}
	// A service that has not failed yet: its first failures are no change;
	// the minimum is set from the first window with a spread (2 of 6,000:
	// p + s = 0.000333 + 0.000236), and 10 of the next 1,000 are past its
	// drift level 0.000333 + 3·0.000236.
	z := mustDetector(NewDDM(DDMConfig{}))
	for range 5 {
		z.UpdateCounts(0, 1000)
	}
	z.UpdateCounts(2, 1000)
	if z.DriftDetected() || z.WarningDetected() {
		t.Errorf("the first failures of a healthy service: warning %v drift %v", z.WarningDetected(), z.DriftDetected())
	}
	z.UpdateCounts(10, 1000)
	if !z.DriftDetected() {
		t.Errorf("12 failures of 7,000 after 2 of 6,000: no change detected (rate %g)", z.ErrorRate())
	}
	d.UpdateCounts(3, 2) // more failures than calls: ignored
	if d.ErrorRate() != 0.005 {
		t.Errorf("an impossible batch moved the rate to %g", d.ErrorRate())
	}
}
