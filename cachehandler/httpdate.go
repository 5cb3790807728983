package cachehandler

import (
	"net/http"
	"strings"
	"time"
)

// parseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7) strictly: an
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") or one of the two obsolete
// formats, an rfc850-date ("Sunday, 06-Nov-94 08:49:37 GMT") or an
// asctime-date ("Sun Nov  6 08:49:37 1994"), each with exactly the digits
// and single spaces of its grammar, and a valid day of its month. Names of
// days and months and "GMT" match case-insensitively, as RFC 9111 §4.2 asks
// of a cache; any other zone is invalid. now places an rfc850-date's
// two-digit year: in now's century, or the one before when that would be
// more than 50 years after now (RFC 9110 §5.6.7).
//
// http.ParseTime is not used: it accepts a one-digit hour and runs of
// spaces, which RFC 9110 makes invalid, and an invalid Expires means "already
// expired" (RFC 9111 §5.3), not some nearby time.
func parseHTTPDate(s string, now time.Time) (time.Time, bool) {
	switch {
	case len(s) == len("Sun, 06 Nov 1994 08:49:37 GMT") && s[3] == ',':
		return parseIMFFixdate(s)
	case len(s) == len("Sun Nov  6 08:49:37 1994") && s[3] == ' ':
		return parseASCTime(s)
	}
	return parseRFC850(s, now)
}

// parseIMFFixdate parses day-name "," SP 2DIGIT SP month SP 4DIGIT SP
// time-of-day SP "GMT".
func parseIMFFixdate(s string) (time.Time, bool) {
	if !isDayName(s[:3]) || s[3:5] != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25] != ' ' ||
		!strings.EqualFold(s[26:], "GMT") {
		return time.Time{}, false
	}
	day, ok1 := digits(s[5:7])
	month, ok2 := monthOf(s[8:11])
	year, ok3 := digits(s[12:16])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return dateAt(year, month, day, s[17:25])
}

// parseASCTime parses day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP
// time-of-day SP 4DIGIT.
func parseASCTime(s string) (time.Time, bool) {
	if !isDayName(s[:3]) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	month, ok1 := monthOf(s[4:7])
	dd := s[8:10]
	if dd[0] == ' ' {
		dd = dd[1:] // SP DIGIT
	}
	day, ok2 := digits(dd)
	year, ok3 := digits(s[20:24])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return dateAt(year, month, day, s[11:19])
}

// parseRFC850 parses day-name-l "," SP 2DIGIT "-" month "-" 2DIGIT SP
// time-of-day SP "GMT".
func parseRFC850(s string, now time.Time) (time.Time, bool) {
	name, rest, ok := strings.Cut(s, ",")
	if !ok || !isLongDayName(name) || len(rest) != len(" 06-Nov-94 08:49:37 GMT") {
		return time.Time{}, false
	}
	if rest[0] != ' ' || rest[3] != '-' || rest[7] != '-' || rest[10] != ' ' || rest[19] != ' ' ||
		!strings.EqualFold(rest[20:], "GMT") {
		return time.Time{}, false
	}
	day, ok1 := digits(rest[1:3])
	month, ok2 := monthOf(rest[4:7])
	yy, ok3 := digits(rest[8:10])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	year := now.UTC().Year()/100*100 + yy
	t, ok := dateAt(year, month, day, rest[11:19])
	if ok && t.After(now.AddDate(50, 0, 0)) {
		t, ok = dateAt(year-100, month, day, rest[11:19])
	}
	return t, ok
}

// dateAt returns the UTC time of a date and an "HH:MM:SS" time-of-day
// (second 60 is a leap second), or false when the day is not in the month
// or the time is out of range.
func dateAt(year int, month time.Month, day int, clock string) (time.Time, bool) {
	if clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := digits(clock[0:2])
	mm, ok2 := digits(clock[3:5])
	ss, ok3 := digits(clock[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	if day < 1 || day > time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, false
	}
	return time.Date(year, month, day, hh, mm, ss, 0, time.UTC), true
}

// digits parses a run of ASCII digits (no sign, no spaces).
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

var (
	dayNames     = [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	longDayNames = [...]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	monthNames   = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

func isDayName(s string) bool {
	for _, n := range dayNames {
		if strings.EqualFold(s, n) {
			return true
		}
	}
	return false
}

func isLongDayName(s string) bool {
	for _, n := range longDayNames {
		if strings.EqualFold(s, n) {
			return true
		}
	}
	return false
}

func monthOf(s string) (time.Month, bool) {
	for i, n := range monthNames {
		if strings.EqualFold(s, n) {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// headerDate parses the HTTP-date of the header field name in h. A field
// given on several lines, or one whose value is not a valid HTTP-date, is
// invalid (ok false): HTTP-date is not a list (RFC 9110 §5.6.7, §5.3).
func headerDate(h http.Header, name string, now time.Time) (t time.Time, ok bool) {
	vs := h.Values(name)
	if len(vs) != 1 {
		return time.Time{}, false
	}
	return parseHTTPDate(vs[0], now)
}
