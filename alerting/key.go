package alerting

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxKeyLen is the longest key Key returns, PagerDuty's limit for a dedup_key.
const MaxKeyLen = 255

// keyPrefix starts every key.
const keyPrefix = "driftwatch/"

// hashedKeyLen is what the hashed form adds to its three cut parts:
// keyPrefix, two separators and "/sha256:" with 64 hex digits.
const hashedKeyLen = len(keyPrefix) + 2 + len("/sha256:") + 2*sha256.Size

// Key returns the de-duplication key of a series:
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
// escaped key. Its fourth "/" keeps it apart from every key that was not cut.
func Key(modelID, modelVersion, feature string) string {
	parts := [3]string{escapeKeyPart(modelID), escapeKeyPart(modelVersion), escapeKeyPart(feature)}
	full := keyPrefix + parts[0] + "/" + parts[1] + "/" + parts[2]
	if len(full) <= MaxKeyLen {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	budget := MaxKeyLen - hashedKeyLen
	// Shares of the budget: the shortest parts keep all of theirs, longer ones split what is left.
	var done [3]bool
	for left := 3; left > 0; left-- {
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
	return keyPrefix + parts[0] + "/" + parts[1] + "/" + parts[2] + "/sha256:" + hex.EncodeToString(sum[:])
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
