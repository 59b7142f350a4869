package telemetry

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// utcSeeds are times at the edges of what parseUTC takes: the calendar's
// ends, leap days, fractions of every length, and near misses it must
// leave to time.Parse.
var utcSeeds = []string{
	"2026-11-26T14:03:11Z", "2026-11-26T14:03:11.123Z", "2026-11-26T14:03:11.1Z", "2026-11-26T14:03:11.123456789Z",
	"2026-11-26T14:03:11.1234567891Z", "2026-11-26T14:03:11.Z", "2026-11-26T14:03:11,5Z", "2026-11-26T14:03:11z",
	"2026-11-26t14:03:11Z", "2026-11-26T14:03:11+00:00", "2026-11-26T14:03:11.5-07:00", "0000-01-01T00:00:00Z",
	"0000-02-29T00:00:00Z", "0000-03-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "1970-01-01T00:00:00Z",
	"1969-12-31T23:59:59.9Z", "2000-02-29T12:00:00Z", "1900-02-29T12:00:00Z", "2024-02-29T00:00:00Z",
	"2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
	"2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z",
	"2026-1-01T00:00:00Z", "+026-01-01T00:00:00Z", "2026-01-01T00:00:0aZ", "2026-01-01 00:00:00Z", "2026-11-26",
	"", "Z",
}

// checkUTC fails t when parseUTC takes s and time.Parse does not give the
// same time, in the same representation.
func checkUTC(t *testing.T, s string) {
	t.Helper()
	got, ok := parseUTC([]byte(s))
	if !ok {
		return
	}
	want, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%q: parseUTC took it, time.Parse: %v", s, err)
	}
	if want = want.UTC(); got != want {
		t.Fatalf("%q: parseUTC %v (%#v), time.Parse %v (%#v)", s, got, got, want, want)
	}
}

// TestParseUTCAgreesWithTimeParse checks parseUTC against time.Parse on
// the seeds and on random times of every day of years 0 to 9999.
func TestParseUTCAgreesWithTimeParse(t *testing.T) {
	taken := 0
	for _, s := range utcSeeds {
		checkUTC(t, s)
		if _, ok := parseUTC([]byte(s)); ok {
			taken++
		}
	}
	if taken != 12 {
		t.Errorf("parseUTC took %d of the seeds, want 12", taken)
	}
	r := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for range 200000 {
		tm := time.Unix(lo+r.Int64N(hi-lo+1), r.Int64N(1e9)).UTC()
		s := tm.Format("2006-01-02T15:04:05")
		if k := r.IntN(10); k > 0 {
			s += "." + strconv.Itoa(int(1e9 + tm.Nanosecond()))[1:k+1]
		}
		s += "Z"
		if _, ok := parseUTC([]byte(s)); !ok {
			t.Fatalf("%q: left to time.Parse", s)
		}
		checkUTC(t, s)
	}
}

// FuzzParseUTC checks that whatever parseUTC takes, time.Parse takes as
// the same time.
func FuzzParseUTC(f *testing.F) {
	for _, s := range utcSeeds {
		f.Add(s)
	}
	f.Fuzz(checkUTC)
}
