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
		if t, ok := parseUTC(b[1 : len(b)-1]); ok {
			w.t = t
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

// parseUTC parses the form of RFC 3339 nearly every producer writes, UTC
// with an optional fraction of 1 to 9 digits (2026-11-26T14:03:11.123Z),
// to the time time.Parse(time.RFC3339Nano, s) gives, in UTC, at a
// fraction of its cost (it is a good part of decoding an event). ok false
// says nothing of s: time.Parse judges it (offsets, longer fractions,
// fields out of range, anything else).
func parseUTC(s []byte) (t time.Time, ok bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[len(s)-1] != 'Z' ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := decimal(s[0:4])
	month, ok2 := decimal(s[5:7])
	day, ok3 := decimal(s[8:10])
	hour, ok4 := decimal(s[11:13])
	minute, ok5 := decimal(s[14:16])
	sec, ok6 := decimal(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := s[19 : len(s)-1]; len(frac) > 0 {
		// A dot and 1 to 9 digits, scaled to nanoseconds.
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := decimal(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	// time.Unix and time.Date both end in the same representation; UTC
	// sets the location time.Parse's UTC time has.
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// decimal parses s, decimal digits only, at most 9 of them.
func decimal(s []byte) (int, bool) {
	n := 0
	for _, c := range s {
		if c-'0' > 9 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days of month (1 to 12) in year, leap
// years as the proleptic Gregorian calendar has them.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch returns the days from 1970-01-01 to year-month-day of
// the proleptic Gregorian calendar, year 0 to 9999 (Hinnant's
// days_from_civil, with years counted from March so that a leap day ends
// its year).
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := (y+400)/400 - 1 // floor division for y >= -1
	yoe := y - era*400     // [0, 399]
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1    // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe - 719468
}
