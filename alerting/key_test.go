package alerting_test

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/alerting"
)

func TestKey(t *testing.T) {
	long := strings.Repeat("m", 300)
	tests := []struct {
		name                    string
		model, version, feature string
		want                    string
	}{
		{"plain names read as before", "fraud-scorer", "3", "amount", "driftwatch/fraud-scorer/3/amount"},
		{"unreserved punctuation stays", "a.b_c~d", "1.2.3", "x-y", "driftwatch/a.b_c~d/1.2.3/x-y"},
		{"slash in the model", "org/model", "1", "f", "driftwatch/org%2Fmodel/1/f"},
		{"slash in the version", "org", "model/1", "f", "driftwatch/org/model%2F1/f"},
		{"percent is escaped", "100%", "%2F", "f", "driftwatch/100%25/%252F/f"},
		{"empty parts", "", "", "", "driftwatch///"},
		{"markup and spaces", "<!channel> x", "1", "a&b", "driftwatch/%3C%21channel%3E%20x/1/a%26b"},
		{"unicode and control bytes", "é", "\x00", "\u202e", "driftwatch/%C3%A9/%00/%E2%80%AE"},
		{"longest unhashed key", strings.Repeat("m", 255-len("driftwatch/")-2), "", "", "driftwatch/" + strings.Repeat("m", 242) + "//"},
		{"long parts are cut and hashed", long, "1", "f",
			"driftwatch/" + strings.Repeat("m", 168) + "/1/f/sha256:" + sha256Hex("driftwatch/"+long+"/1/f")},
		{"a cut never splits an escape", strings.Repeat("é", 100), "v", strings.Repeat("/", 100),
			"driftwatch/" + strings.Repeat("%C3%A9", 14) + "/v/" + strings.Repeat("%2F", 28) + "/sha256:" +
				sha256Hex("driftwatch/"+strings.Repeat("%C3%A9", 100)+"/v/"+strings.Repeat("%2F", 100))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := alerting.Key(tc.model, tc.version, tc.feature)
			if got != tc.want {
				t.Errorf("Key(%q, %q, %q) =\n %q\nwant %q", tc.model, tc.version, tc.feature, got, tc.want)
			}
			if len(got) > alerting.MaxKeyLen {
				t.Errorf("key of %d bytes, want at most %d", len(got), alerting.MaxKeyLen)
			}
		})
	}
}

// TestKeyCollision replays the attack: model "org" version "model/1" must not
// share the key (and so the PagerDuty dedup_key) of model "org/model" version "1".
func TestKeyCollision(t *testing.T) {
	pairs := [][2][3]string{
		{{"org/model", "1", "f"}, {"org", "model/1", "f"}},
		{{"m", "1/f", "x"}, {"m", "1", "f/x"}},
		{{"m/1", "", "f"}, {"m", "1", "f"}},
		{{"m%2F1", "2", "f"}, {"m/1", "2", "f"}},
		{{"m", "1", ""}, {"m", "1/", ""}},
	}
	for _, p := range pairs {
		a, b := alerting.Key(p[0][0], p[0][1], p[0][2]), alerting.Key(p[1][0], p[1][1], p[1][2])
		if a == b {
			t.Errorf("%q and %q share the key %q", p[0], p[1], a)
		}
	}
}

// TestKeyDistinct checks that distinct triples get distinct keys: every
// triple over a small alphabet of troublesome parts, then many random ones
// (separators, escapes, unicode, control bytes, empty and over-long parts).
func TestKeyDistinct(t *testing.T) {
	seen := map[string][3]string{}
	check := func(tr [3]string) {
		t.Helper()
		k := alerting.Key(tr[0], tr[1], tr[2])
		if len(k) > alerting.MaxKeyLen || !strings.HasPrefix(k, "driftwatch/") {
			t.Fatalf("Key(%q) = %q: %d bytes or a wrong prefix", tr, k, len(k))
		}
		for i := 0; i < len(k); i++ {
			if k[i] <= ' ' || k[i] >= 0x7f {
				t.Fatalf("Key(%q) = %q holds byte %#x", tr, k, k[i])
			}
		}
		if prev, dup := seen[k]; dup && prev != tr {
			t.Fatalf("%q and %q share the key %q", prev, tr, k)
		}
		seen[k] = tr
	}
	small := []string{"", "a", "/", "%", "a/", "/a", "%2F", "%25", "a/b", "a%2Fb", "é", "\x00"}
	for _, a := range small {
		for _, b := range small {
			for _, c := range small {
				check([3]string{a, b, c})
			}
		}
	}
	pieces := []string{"a", "b", "/", "%", "%2F", "2F", "-", "~", " ", "é", "\u202e", "\x00", "\xff", "<!channel>", "`", strings.Repeat("z", 40)}
	rnd := rand.New(rand.NewPCG(1, 2))
	part := func() string {
		var b strings.Builder
		for range rnd.IntN(12) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		return b.String()
	}
	for range 200_000 {
		check([3]string{part(), part(), part()})
	}
	// Triples alike up to where a long key is cut differ only in the hash.
	base := strings.Repeat("x", 400)
	for i := range 1000 {
		check([3]string{base, "1", base + string(rune('a'+i%26)) + strings.Repeat("y", i/26)})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
