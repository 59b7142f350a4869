package alerting

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxKeyLen is the longest key Key and SignalKey return, PagerDuty's limit for a dedup_key.
const MaxKeyLen = 255

// keyPrefix starts every key.
const keyPrefix = "driftwatch/"

// hashSuffixLen is what the hashed form adds after its cut parts: "/sha256:" and 64 hex digits.
const hashSuffixLen = len("/sha256:") + 2*sha256.Size

// Key returns the de-duplication key of a feature's drift series:
// driftwatch/<model>/<version>/<feature>, each part percent-escaped. Every
// byte other than ASCII letters, digits and "-._~" is written as %XX
// (upper-case hex), so '/' and '%' never appear unescaped in a part, a key
// reads as before for plain names ("driftwatch/fraud-scorer/3/amount"), and
// distinct triples never share a key: one producer's names cannot take over,
// or resolve, another's alert.
//
// A key that would be longer than MaxKeyLen becomes
// driftwatch/<model>/<version>/<feature>/sha256:<hex>, where each escaped part
// is cut (never inside an escape) to fit and <hex> is the SHA-256 of the full
// escaped key. SignalKey explains why no key of one form can equal a key of
// another.
func Key(modelID, modelVersion, feature string) string {
	return joinKey(keyPrefix, modelID, modelVersion, feature)
}

// SignalKey returns the de-duplication key of a signal series (the signal
// named signal, e.g. "error_rate", about subject, "*" for the model itself):
// driftwatch/<model>/<version>/<signal>/<subject>, each part escaped as Key
// escapes it, e.g. "driftwatch/fraud-scorer/3/error_rate/%2A" or
// "driftwatch/fraud-scorer/3/error_rate/caller%2F7". A key that would be
// longer than MaxKeyLen becomes
// driftwatch/<model>/<version>/<signal>/<subject>/sha256:<hex>, cut and
// hashed as Key's.
//
// No two distinct inputs, to Key or to SignalKey, share a key. An escaped
// part holds only ASCII letters, digits, "-._~" and "%", never '/' nor ':'.
// So the four forms differ by their number of '/', the prefix's included: a
// key has 3, a hashed key 4, a signal key 4, a hashed signal key 5; and the
// one shared count is told apart by ':', which a hashed key always
// holds ("/sha256:") and a signal key never does. Within one form, an
// unhashed key splits back into its escaped parts at its '/'s, and escaping
// is one-to-one, so it is that of its inputs alone; a hashed one ends in the
// SHA-256 of that unhashed key, so two distinct inputs would need a SHA-256
// collision to share it.
func SignalKey(modelID, modelVersion, signal, subject string) string {
	return joinKey(keyPrefix, modelID, modelVersion, signal, subject)
}

// burnKeyPrefix starts every BurnKey; no Key or SignalKey starts with it.
const burnKeyPrefix = "driftwatch-budget/"

// BurnKey returns the de-duplication key of the burn-rate alert named
// alert of a risk budget for a model: driftwatch-budget/<model>/<budget>/<alert>,
// each part escaped, cut and hashed as Key's, e.g.
// "driftwatch-budget/fraud-eu/fraud/fast". Its prefix is not Key's
// "driftwatch/", so it never equals a key of a drift or signal alert.
func BurnKey(modelID, budget, alert string) string {
	return joinKey(burnKeyPrefix, modelID, budget, alert)
}

// joinKey joins the escaped names after prefix with '/', or builds the
// hashed form when that is longer than MaxKeyLen.
func joinKey(prefix string, names ...string) string {
	var buf [4]string
	parts := buf[:len(names)]
	for i, s := range names {
		parts[i] = escapeKeyPart(s)
	}
	full := prefix + strings.Join(parts, "/")
	if len(full) <= MaxKeyLen {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	budget := MaxKeyLen - len(prefix) - (len(parts) - 1) - hashSuffixLen
	// Shares of the budget: the shortest parts keep all of theirs, longer ones split what is left.
	var done [4]bool
	for left := len(parts); left > 0; left-- {
		s := -1
		for i := range parts {
			if !done[i] && (s < 0 || len(parts[i]) < len(parts[s])) {
				s = i
			}
		}
		parts[s] = cutEscaped(parts[s], min(len(parts[s]), budget/left))
		budget -= len(parts[s])
		done[s] = true
	}
	return prefix + strings.Join(parts, "/") + "/sha256:" + hex.EncodeToString(sum[:])
}

// escapeKeyPart percent-escapes every byte of s outside [A-Za-z0-9-._~].
func escapeKeyPart(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !keySafe(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keySafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

func keySafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// cutEscaped returns at most the first n bytes of the escaped part s, without
// splitting a %XX escape.
func cutEscaped(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	if i := strings.LastIndexByte(s, '%'); i >= 0 && i > len(s)-3 {
		s = s[:i]
	}
	return s
}
