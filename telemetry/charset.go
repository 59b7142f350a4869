package telemetry

import (
	"fmt"
	"unicode/utf8"
)

// The character policy. Every string of an event is checked once, here, so
// that no sink (SQL, dashboards, alert keys, Slack, logs) meets a control
// character, and names that become parts of keys and queries stay plain:
//
//   - Identifiers (model id and version, feature names, prediction id,
//     operation, principals, attribute keys, label and feedback ids) are 1 or
//     more of the ASCII letters, digits and _ - . : / @ + (no space, quote,
//     backslash or control character).
//   - Values (category values, classes, error types, finish reasons,
//     addresses, attribute values, labels) are valid UTF-8 without control
//     characters (C0, DEL, C1), line or paragraph separators, or the
//     bidirectional overrides and isolates that make text display other than
//     it reads.
//
// A string that breaks the policy is rejected with ReasonInvalidCharacter,
// naming the field, the position and the character (escaped), never the raw
// value.

// ReasonInvalidCharacter: an identifier or value holds a character the
// policy refuses.
const ReasonInvalidCharacter = "invalid_character"

// IdentifierCharacters describes the characters of identifiers, for
// rejection details and documentation.
const IdentifierCharacters = "ASCII letters, digits and _ - . : / @ +"

var identByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-.:/@+" {
		t[c] = true
	}
	return t
}()

// ValidIdentifier reports whether s follows the identifier policy (an empty
// s does; whether a field is required is checked elsewhere).
func ValidIdentifier(s string) bool { return badIdentifierAt(s) < 0 }

// ValidValue reports whether s follows the value policy.
func ValidValue(s string) bool { i, _ := badValueAt(s); return i < 0 }

func badIdentifierAt(s string) int {
	for i := 0; i < len(s); i++ {
		if !identByte[s[i]] {
			return i
		}
	}
	return -1
}

// badValueAt returns the byte offset of the first refused character of s
// and that character (utf8.RuneError for invalid UTF-8), or -1.
func badValueAt(s string) (int, rune) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i, rune(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || refusedRune(r) {
			return i, r
		}
		i += size
	}
	return -1, 0
}

func refusedRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e || r == 0x200f, r == 0x061c:
		return true // bidirectional embeddings, overrides, isolates and marks
	}
	return false
}

// checkIdentifier rejects s, the value of field, unless it follows the
// identifier policy.
func checkIdentifier(field, s string) *RejectError {
	i := badIdentifierAt(s)
	if i < 0 {
		return nil
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return reject(ReasonInvalidCharacter, fmt.Sprintf("%s: character %+q at byte %d is not allowed in an identifier (%s)", field, r, i, IdentifierCharacters))
}

// checkValue rejects s, the value of field, unless it follows the value
// policy.
func checkValue(field, s string) *RejectError {
	i, r := badValueAt(s)
	if i < 0 {
		return nil
	}
	if r == utf8.RuneError {
		return reject(ReasonInvalidCharacter, fmt.Sprintf("%s: invalid UTF-8 at byte %d", field, i))
	}
	return reject(ReasonInvalidCharacter, fmt.Sprintf("%s: control or formatting character %+q at byte %d", field, r, i))
}

// checkIdentifiers and checkValues check (field, value) pairs in order.
func checkIdentifiers(fields ...string) *RejectError {
	for i := 0; i+1 < len(fields); i += 2 {
		if rj := checkIdentifier(fields[i], fields[i+1]); rj != nil {
			return rj
		}
	}
	return nil
}

func checkValues(fields ...string) *RejectError {
	for i := 0; i+1 < len(fields); i += 2 {
		if rj := checkValue(fields[i], fields[i+1]); rj != nil {
			return rj
		}
	}
	return nil
}
