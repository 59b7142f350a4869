package alerting_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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

func TestSignalKey(t *testing.T) {
	long := strings.Repeat("s", 300)
	tests := []struct {
		name                            string
		model, version, signal, subject string
		want                            string
	}{
		{"plain names read as a key with one more part", "fraud-scorer", "3", "error_rate", "checkout-web",
			"driftwatch/fraud-scorer/3/error_rate/checkout-web"},
		{"the model itself", "fraud-scorer", "3", "error_rate", "*", "driftwatch/fraud-scorer/3/error_rate/%2A"},
		{"slash in the subject", "m", "1", "error_rate", "org/caller", "driftwatch/m/1/error_rate/org%2Fcaller"},
		{"percent and colon in the subject", "m", "1", "error_rate", "100%:x", "driftwatch/m/1/error_rate/100%25%3Ax"},
		{"a subject that looks like a hash", "m", "1", "s", "sha256:ab", "driftwatch/m/1/s/sha256%3Aab"},
		{"empty parts", "", "", "", "", "driftwatch////"},
		{"markup and control bytes", "m", "1", "finish_reason", "<!channel>\n", "driftwatch/m/1/finish_reason/%3C%21channel%3E%0A"},
		{"longest unhashed key", strings.Repeat("m", 255-len("driftwatch/")-3), "", "", "", "driftwatch/" + strings.Repeat("m", 241) + "///"},
		{"a long subject is cut and hashed", "m", "1", "s", long,
			"driftwatch/m/1/s/" + strings.Repeat("s", 166) + "/sha256:" + sha256Hex("driftwatch/m/1/s/"+long)},
		{"a cut never splits an escape", "m", "1", "s", strings.Repeat("/", 100),
			"driftwatch/m/1/s/" + strings.Repeat("%2F", 55) + "/sha256:" + sha256Hex("driftwatch/m/1/s/"+strings.Repeat("%2F", 100))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := alerting.SignalKey(tc.model, tc.version, tc.signal, tc.subject)
			if got != tc.want {
				t.Errorf("SignalKey(%q, %q, %q, %q) =\n %q\nwant %q", tc.model, tc.version, tc.signal, tc.subject, got, tc.want)
			}
			if len(got) > alerting.MaxKeyLen {
				t.Errorf("key of %d bytes, want at most %d", len(got), alerting.MaxKeyLen)
			}
		})
	}
}

// TestSignalKeyCollision replays look-alikes across the two kinds of key: a
// feature named like a signal, a subject carrying a separator, and a signal
// key built to read like the hashed form of a feature's key must each get a
// key of their own.
func TestSignalKeyCollision(t *testing.T) {
	long := strings.Repeat("m", 300)
	hashed := alerting.Key(long, "1", "f") // driftwatch/<168 m>/1/f/sha256:<hex>
	head, hash, _ := strings.Cut(strings.TrimPrefix(hashed, "driftwatch/"), "/sha256:")
	parts := strings.Split(head, "/")
	signalHashed := alerting.SignalKey("m", "1", "s", strings.Repeat("x", 300))
	sHead, _, _ := strings.Cut(strings.TrimPrefix(signalHashed, "driftwatch/"), "/sha256:")
	sParts := strings.Split(sHead, "/")
	pairs := []struct {
		name       string
		keyA, keyB string
	}{
		{"a feature named like the signal", alerting.Key("m", "1", "error_rate"), alerting.SignalKey("m", "1", "error_rate", "*")},
		{"a feature holding the separator", alerting.Key("m", "1", "error_rate/*"), alerting.SignalKey("m", "1", "error_rate", "*")},
		{"an escaped separator in the feature", alerting.Key("m", "1", "error_rate%2F%2A"), alerting.SignalKey("m", "1", "error_rate", "*")},
		{"a slash moved from signal to subject", alerting.SignalKey("m", "1", "a/b", "c"), alerting.SignalKey("m", "1", "a", "b/c")},
		{"a slash moved from version to signal", alerting.SignalKey("m", "1/a", "b", "c"), alerting.SignalKey("m", "1", "a/b", "c")},
		{"an empty subject and the model itself", alerting.SignalKey("m", "1", "s", ""), alerting.SignalKey("m", "1", "s", "*")},
		{"a signal key copying a hashed key", hashed, alerting.SignalKey(parts[0], parts[1], parts[2], "sha256:"+hash)},
		{"a key copying a hashed signal key", signalHashed, alerting.Key(sParts[0], sParts[1], sParts[2]+"/"+sParts[3])},
	}
	for _, p := range pairs {
		if p.keyA == p.keyB {
			t.Errorf("%s: both get the key %q", p.name, p.keyA)
		}
	}
}

// TestKeyDistinct checks that distinct inputs get distinct keys, across Key
// and SignalKey: every triple and quadruple over a small alphabet of
// troublesome parts, then many random ones (separators, escapes, colons,
// unicode, control bytes, empty and over-long parts).
func TestKeyDistinct(t *testing.T) {
	// input is a Key triple (n 3) or a SignalKey quadruple (n 4).
	type input struct {
		n     int
		parts [4]string
	}
	show := func(in input) string { return fmt.Sprintf("%q", in.parts[:in.n]) }
	seen := map[string]input{}
	check := func(parts ...string) {
		t.Helper()
		in := input{n: len(parts)}
		copy(in.parts[:], parts)
		var k string
		if in.n == 3 {
			k = alerting.Key(parts[0], parts[1], parts[2])
		} else {
			k = alerting.SignalKey(parts[0], parts[1], parts[2], parts[3])
		}
		if len(k) > alerting.MaxKeyLen || !strings.HasPrefix(k, "driftwatch/") {
			t.Fatalf("key of %s = %q: %d bytes or a wrong prefix", show(in), k, len(k))
		}
		for i := 0; i < len(k); i++ {
			if k[i] <= ' ' || k[i] >= 0x7f {
				t.Fatalf("key of %s = %q holds byte %#x", show(in), k, k[i])
			}
		}
		if prev, dup := seen[k]; dup && prev != in {
			t.Fatalf("%s and %s share the key %q", show(prev), show(in), k)
		}
		seen[k] = in
	}
	small := []string{"", "a", "/", "%", "a/", "/a", "%2F", "%25", "a/b", "a%2Fb", "é", "\x00", ":", "*"}
	for _, a := range small {
		for _, b := range small {
			for _, c := range small {
				check(a, b, c)
				for _, d := range small {
					check(a, b, c, d)
				}
			}
		}
	}
	pieces := []string{"a", "b", "/", "%", "%2F", "2F", "-", "~", " ", ":", "sha256:", "*", "é", "\u202e", "\x00", "\xff", "<!channel>", "`", strings.Repeat("z", 40)}
	rnd := rand.New(rand.NewPCG(1, 2))
	part := func() string {
		var b strings.Builder
		for range rnd.IntN(12) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		return b.String()
	}
	for range 100_000 {
		check(part(), part(), part())
		check(part(), part(), part(), part())
	}
	// Inputs alike up to where a long key is cut differ only in the hash.
	base := strings.Repeat("x", 400)
	for i := range 1000 {
		tail := base + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
		check(base, "1", tail)
		check(base, "1", "s", tail)
		check("m", "1", base, tail)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
