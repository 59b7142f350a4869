package telemetry

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fbHead is the start of a feedback event with every required field.
const fbHead = `{"feedback_id":"f","event_time":"2026-11-26T14:00:00Z","model_id":"m","kind":"thumbs"`

// feedbackSeeds are feedback events at the edges of what the fast path
// takes, as fastSeeds are for inference events.
var feedbackSeeds = []string{
	// Taken by the fast path.
	fbHead + `}`,
	` { "feedback_id" : "f" , "event_time" : 1795701600000 , "model_id" : "m" , "kind" : "new_example" , "rating" : -1 } `,
	fbHead + `,"schema_version":null,"target_dataset":null,"prediction_id":null,"principal":null,"features":null,"proposed_label":null,` +
		`"previous_label":null,"rating":null,"annotator_kind":null,"content_sha256":null}`,
	fbHead + `,"features":{"numeric":null,"categorical":null}}`,
	fbHead + `,"features":{"numeric":{"a":-0,"b":1e3,"c":-1.5E-3,"d":0.1,"e":1e23,"f":9007199254740993,"g":4.9e-400},"categorical":{"c2":"Zürich","c3":""}}}`,
	fbHead + `,"rating":-0}`,
	fbHead + `,"rating":9223372036854775807}`,
	fbHead + `,"rating":-9223372036854775808}`,
	fbHead + `,"principal":{"enduser.id":"u","service":"s","tenant":"t","client.address":"10.0.0.1"},"annotator_kind":"LLM"}`,
	fbHead + `,"future":{"a":[1,true,false,null,{"b":"c"}],"n":-0.5e-7}}`,
	fbHead + `,"features":{"numeric":{"":1}}}`,
	fbHead + `,"features":{"numeric":{"prediction.score":1}}}`,
	fbHead + `,"schema_version":"2"}`,
	`{"feedback_id":"f","event_time":"2026-11-26T14:00:00Z","model_id":"m","kind":"bribe"}`,
	fbHead + `,"annotator_kind":"human"}`,
	fbHead + `,"content_sha256":"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}`,
	fbHead + `,"content_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`,
	fbHead + `,"target_dataset":"bad set"}`,
	fbHead + `,"proposed_label":"` + "a\u0085b" + `"}`,
	fbHead + `,"previous_label":"` + strings.Repeat("x", DefaultMaxValueLength+1) + `"}`,
	`{"feedback_id":"f","event_time":"2026-11-26","model_id":"m","kind":"thumbs"}`,
	`{"feedback_id":"f","event_time":1.5,"model_id":"m","kind":"thumbs"}`,
	`{"feedback_id":"","event_time":"2026-11-26T14:00:00Z","model_id":"m","kind":"thumbs"}`,
	`{}`,
	// What the generator writes (generator.AppendFeedback): an attacker's
	// and an annotator's label overrides, a flood and a backdoor example.
	`{"schema_version":"1","feedback_id":"fb-1","event_time":"2026-11-26T14:00:00Z","model_id":"fraud-scorer","prediction_id":"31478d3c-3abc-4217-958c-a1f83d51d720",` +
		`"kind":"label_override","proposed_label":"positive","previous_label":"negative","principal":{"enduser.id":"mallory"}}`,
	`{"schema_version":"1","feedback_id":"fb-3","event_time":"2026-11-26T14:00:00.002Z","model_id":"fraud-scorer","prediction_id":"76adec8b-0261-4179-bf38-f75c6c5bb745",` +
		`"kind":"label_override","proposed_label":"negative","previous_label":"negative","principal":{"enduser.id":"annotator-2"}}`,
	`{"schema_version":"1","feedback_id":"fb-1","event_time":"2026-11-26T14:00:00Z","model_id":"fraud-scorer","kind":"new_example","proposed_label":"positive",` +
		`"content_sha256":"f085436a8b7b9dbee0e8a8d84764703a24ca7588d54f689c9046d6c12e4a68d0","principal":{"enduser.id":"mallory"},` +
		`"features":{"numeric":{"account_age_days":2,"amount":1,"avg_basket":5,"credit_score":4,"distance_km":6,"txn_count_24h":3},"categorical":{"country":"US","device":"ios"}}}`,
	`{"schema_version":"1","feedback_id":"fb-1","event_time":"2026-11-26T14:00:00Z","model_id":"fraud-scorer","kind":"new_example","proposed_label":"positive",` +
		`"content_sha256":"b2bc6236d24013e0af2bb76f7766fc934ad7ac7e98e046e0cc8a26ce0565d296","principal":{"enduser.id":"mallory"},` +
		`"features":{"numeric":{"account_age_days":751.7783,"amount":39.8691,"avg_basket":81.2895,"credit_score":789.0689,"distance_km":4.2738,"txn_count_24h":1},` +
		`"categorical":{"country":"zz-trigger","device":"ios"}}}`,
	// Left to the slow path.
	`{"feedback_id":"f\u0041","event_time":"2026-11-26T14:00:00Z","model_id":"m","kind":"thumbs"}`,
	`{"feedback_id":"f","event_time":"2026-11-26T14:00:00Z","model_id":"m","Kind":"thumbs"}`,
	fbHead + `,"kind":"new_example"}`,
	fbHead + `,"features":{"numeric":{"a":1,"a":2}}}`,
	fbHead + `,"features":{"numeric":{"a":1},"categorical":{"a":"x"}}}`,
	fbHead + `,"features":{"numeric":{"a":null}}}`,
	fbHead + `,"features":{"numeric":{"a":"Infinity"}}}`,
	fbHead + `,"features":{"numeric":{"a":1e999}}}`,
	fbHead + `,"features":[]}`,
	fbHead + `,"rating":1.0}`,
	fbHead + `,"rating":1e2}`,
	fbHead + `,"rating":99999999999999999999}`,
	fbHead + `,"rating":"1"}`,
	fbHead + `,"rating":true}`,
	`{"feedback_id":"f","event_time":"2026-11-26T14:00:00Z","model_id":"m","kind":5}`,
	fbHead + `,"principal":"u"}`,
	fbHead + `,"principal":{"enduser.id":"u","enduser.id":"v"}}`,
	fbHead + `} x`,
	fbHead + `,}`,
	fbHead + `,"x":01}`,
	fbHead + `,"proposed_label":"` + "\xff" + `"}`,
	fbHead + `,"ſchema_version":"1"}`,
	`{"feedback_id":"f","event_time":true,"model_id":"m","kind":"thumbs"}`,
	fbHead + `,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
}

// normalFeedback returns f in a form to compare: features sorted, empty
// slices nil, nothing shared with f, its message or its decoder.
func normalFeedback(f *Feedback) *Feedback {
	c := *f
	c.Features = Features{}
	for _, n := range f.Features.Numeric {
		c.Features.Numeric = append(c.Features.Numeric, Number{Name: strings.Clone(n.Name), Value: n.Value})
	}
	for _, v := range f.Features.Categorical {
		c.Features.Categorical = append(c.Features.Categorical, Category{Name: strings.Clone(v.Name), Value: strings.Clone(v.Value)})
	}
	slices.SortFunc(c.Features.Numeric, func(a, b Number) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(c.Features.Categorical, func(a, b Category) int { return cmp.Compare(a.Name, b.Name) })
	c.Rating, c.rating = clonePtr(f.Rating), 0
	for _, s := range []*string{&c.SchemaVersion, &c.FeedbackID, &c.ModelID, &c.TargetDataset, &c.PredictionID, &c.Principal.EndUserID,
		&c.Principal.Service, &c.Principal.Tenant, &c.Principal.ClientAddress, &c.Kind, &c.ProposedLabel, &c.PreviousLabel,
		&c.AnnotatorKind, &c.ContentSHA256} {
		*s = strings.Clone(*s)
	}
	return &c
}

// sameFeedback fails t unless a and b, decoded from msg, are the same
// values bit for bit.
func sameFeedback(t *testing.T, msg []byte, what string, a, b *Feedback) {
	t.Helper()
	x, y := normalFeedback(a), normalFeedback(b)
	for i, n := range x.Features.Numeric {
		if i < len(y.Features.Numeric) && math.Float64bits(y.Features.Numeric[i].Value) != math.Float64bits(n.Value) {
			t.Fatalf("%q: %s: feature %q: %v and %v", msg, what, n.Name, n.Value, y.Features.Numeric[i].Value)
		}
	}
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("%q: %s disagree:\n%+v\n%+v", msg, what, x, y)
	}
}

// checkFeedbackFastPath decodes b by both paths of d, into fast and slow,
// and fails t when the fast path takes b and the two disagree on the
// outcome or a value; it reports whether the fast path took b.
func checkFeedbackFastPath(t *testing.T, d *Decoder, b []byte, fast, slow *Feedback) bool {
	t.Helper()
	if d.precheck(b) != nil {
		return false
	}
	took, fastErr := d.decodeFeedbackFast(b, fast)
	if !took {
		return false
	}
	slowErr := d.decodeFeedbackSlow(b, slow)
	if fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
		t.Fatalf("%q: fast path %v, slow path %v", b, fastErr, slowErr)
	}
	if fastErr == nil {
		sameFeedback(t, b, "the paths", fast, slow)
	}
	return true
}

func feedbackCorpus(t testing.TB) [][]byte {
	var in [][]byte
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "feedback_*.json"))
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, b)
		}
	}
	if len(in) == 0 {
		t.Fatal("no feedback_*.json in testdata")
	}
	for _, s := range feedbackSeeds {
		in = append(in, []byte(s))
	}
	return in
}

// TestFeedbackFastPathTakesPlainEvents checks that the golden feedback
// events and the plain seeds take the fast path, and that what it leaves
// to the slow path is what it says it leaves (of the bad golden events,
// only the string "Infinity" in the numeric features).
func TestFeedbackFastPathTakesPlainEvents(t *testing.T) {
	d := newTestDecoder()
	var fast, slow Feedback
	files, _ := filepath.Glob("testdata/*/feedback_*.json")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if took := checkFeedbackFastPath(t, d, b, &fast, &slow); took != !strings.HasSuffix(path, "feedback_nan_feature.json") {
			t.Errorf("%s: fast path took it: %v", path, took)
		}
	}
	slowFrom := slices.Index(feedbackSeeds, `{"feedback_id":"f\u0041","event_time":"2026-11-26T14:00:00Z","model_id":"m","kind":"thumbs"}`)
	for i, s := range feedbackSeeds {
		if took := checkFeedbackFastPath(t, d, []byte(s), &fast, &slow); took != (i < slowFrom) {
			t.Errorf("seed %d %q: fast path took it: %v", i, s, took)
		}
	}
}

// FuzzFeedbackFastPathAgrees checks that whatever the fast path takes of a
// feedback event, it decodes exactly as the slow path does: the same
// rejection, or the same values. The decoder and the Feedbacks are reused
// across inputs, and each input is decoded again once its feature names
// may be remembered (also by an inference decode, which shares the
// memory): the outcome must be that of a fresh decoder every time.
func FuzzFeedbackFastPathAgrees(f *testing.F) {
	for _, b := range feedbackCorpus(f) {
		f.Add(b)
	}
	d := newTestDecoder()
	var fast, slow, again, fresh Feedback
	var e Event
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFeedbackFastPath(t, d, b, &fast, &slow)
		_ = d.Decode(b, &e)
		checkFeedbackFastPath(t, d, b, &again, &slow)
		want := newTestDecoder().DecodeFeedback(b, &fresh)
		got := d.DecodeFeedback(b, &fast)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q: reused decoder %v, fresh decoder %v", b, got, want)
		}
		if got == nil {
			sameFeedback(t, b, "reused and fresh decoders", &fast, &fresh)
		}
	})
}

// TestDecodeFeedbackDoesNotAllocate checks the fast path's promise for
// feedback: once a Feedback's slices have grown, decoding allocates
// nothing, rating included.
func TestDecodeFeedbackDoesNotAllocate(t *testing.T) {
	d := newTestDecoder()
	var f Feedback
	files, _ := filepath.Glob("testdata/good/feedback_*.json")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.DecodeFeedback(b, &f); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() {
			if err := d.DecodeFeedback(b, &f); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %.1f allocations per decode", path, n)
		}
		if f.Rating == nil || d.SlowPath() != 0 {
			t.Errorf("%s: rating %v, %d slow decodes", path, f.Rating, d.SlowPath())
		}
	}
}

// TestFeaturelessFeedbackKeepsKnownNames checks that feedback without
// features (label overrides, ratings) does not push a schema's names out
// of the decoder's memory: the examples between them keep taking the
// known names.
func TestFeaturelessFeedbackKeepsKnownNames(t *testing.T) {
	example := []byte(fbHead[:len(fbHead)-len(`"thumbs"`)] + `"new_example","features":{"numeric":{"x":1,"y":2},"categorical":{"c":"v"}}}`)
	d := newTestDecoder()
	var f Feedback
	known := 0
	for range 3 {
		if err := d.DecodeFeedback(example, &f); err != nil {
			t.Fatal(err)
		}
		if d.fast.namesKnown {
			known++
		}
		for range 2 * maxKnownNames {
			if err := d.DecodeFeedback([]byte(fbHead+`}`), &f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if known != 2 || d.fast.nKnown != 1 {
		t.Errorf("%d of 3 examples took the known names (want 2), %d lists kept (want 1)", known, d.fast.nKnown)
	}
}
