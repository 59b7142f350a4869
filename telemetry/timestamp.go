package telemetry

import (
	"time"
)

// wireTime is a time on the wire: an RFC 3339 string (fraction and offset
// allowed) or an integer of epoch milliseconds. A parse failure is kept in err
// so that the decoder can name the field; null leaves it unset.
type wireTime struct {
	t   time.Time
	set bool
	err string
}

// UnmarshalJSON implements json.Unmarshaler. It never fails, so that the
// caller can report the problem with the field's name.
func (w *wireTime) UnmarshalJSON(b []byte) error {
	w.parse(b)
	return nil
}

// parse reads the JSON value b: a string (with its quotes), a number or null.
func (w *wireTime) parse(b []byte) {
	*w = wireTime{}
	if len(b) == 0 || string(b) == "null" {
		return
	}
	w.set = true
	if b[0] == '"' {
		if len(b) < 2 || b[len(b)-1] != '"' {
			w.err = "not an RFC 3339 time"
			return
		}
		// time.Parse keeps no reference to its input once it succeeds.
		t, err := time.Parse(time.RFC3339Nano, alias(b[1:len(b)-1]))
		if err != nil {
			w.err = "not an RFC 3339 time"
			return
		}
		w.t = t.UTC()
		return
	}
	ms, ok := parseEpochMillis(b)
	if !ok {
		w.err = "not an RFC 3339 string or an integer of epoch milliseconds"
		return
	}
	w.t = time.UnixMilli(ms).UTC()
}

// parseEpochMillis parses an optionally negative decimal integer of at most
// 15 digits (enough for any epoch millisecond until year 33658).
func parseEpochMillis(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
