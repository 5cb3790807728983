package cachehandler

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// testDateNow is the clock the rfc850-date years are read against.
var testDateNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestRFC9110Section5_6_7HTTPDate: the three formats of RFC 9110 §5.6.7,
// exactly, and what they must not accept.
func TestRFC9110Section5_6_7HTTPDate(t *testing.T) {
	nov6 := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	valid := []struct {
		name, in string
		want     time.Time
	}{
		{"IMF-fixdate (the RFC's example)", "Sun, 06 Nov 1994 08:49:37 GMT", nov6},
		{"rfc850-date (the RFC's example)", "Sunday, 06-Nov-94 08:49:37 GMT", nov6},
		{"asctime-date (the RFC's example)", "Sun Nov  6 08:49:37 1994", nov6},
		{"asctime-date, two-digit day", "Sun Nov 06 08:49:37 1994", nov6},
		{"names match case-insensitively (RFC 9111 §4.2)", "sun, 06 NOV 1994 08:49:37 gmt", nov6},
		{"rfc850-date, long name in capitals", "SUNDAY, 06-nov-94 08:49:37 GMT", nov6},
		{"rfc850-date, year in this century", "Tuesday, 03-Mar-26 00:00:00 GMT", time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)},
		{"rfc850-date, 50 years ahead at most", "Monday, 01-Jan-74 00:00:00 GMT", time.Date(2074, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"rfc850-date, more than 50 years ahead is the past", "Friday, 31-Dec-99 23:59:59 GMT", time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"leap day", "Thu, 29 Feb 2024 00:00:00 GMT", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"leap second", "Sat, 31 Dec 2016 23:59:60 GMT", time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"weekday is not checked against the date", "Mon, 06 Nov 1994 08:49:37 GMT", nov6},
	}
	for _, tt := range valid {
		t.Run("valid/"+tt.name, func(t *testing.T) {
			got, ok := parseHTTPDate(tt.in, testDateNow)
			if !ok || !got.Equal(tt.want) {
				t.Fatalf("parseHTTPDate(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
			}
		})
	}
	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"zero (a common Expires)", "0"},
		{"minus one", "-1"},
		{"one-digit hour", "Sun, 06 Nov 1994 8:49:37 GMT"},
		{"one-digit day in IMF-fixdate", "Sun, 6 Nov 1994 08:49:37 GMT"},
		{"two spaces after the comma", "Sun,  06 Nov 1994 08:49:37 GMT"},
		{"two spaces before GMT", "Sun, 06 Nov 1994 08:49:37  GMT"},
		{"leading space", " Sun, 06 Nov 1994 08:49:37 GMT"},
		{"trailing space", "Sun, 06 Nov 1994 08:49:37 GMT "},
		{"tab for a space", "Sun,\t06 Nov 1994 08:49:37 GMT"},
		{"another zone (RFC 9111 §4.2)", "Sun, 06 Nov 1994 08:49:37 UTC"},
		{"numeric zone", "Sun, 06 Nov 1994 08:49:37 +0000"},
		{"two-digit year in IMF-fixdate", "Sun, 06 Nov 94 08:49:37 GMT"},
		{"long day name in IMF-fixdate", "Sunday, 06 Nov 1994 08:49:37 GMT"},
		{"short day name in rfc850-date", "Sun, 06-Nov-94 08:49:37 GMT"},
		{"four-digit year in rfc850-date", "Sunday, 06-Nov-1994 08:49:37 GMT"},
		{"asctime-date, one space before a one-digit day", "Sun Nov 6 08:49:37 1994"},
		{"asctime-date with a zone", "Sun Nov  6 08:49:37 1994 GMT"},
		{"unknown month", "Sun, 06 Nob 1994 08:49:37 GMT"},
		{"unknown day", "Sux, 06 Nov 1994 08:49:37 GMT"},
		{"day 31 of a 30-day month", "Thu, 31 Nov 1994 08:49:37 GMT"},
		{"February 29 of a common year", "Tue, 29 Feb 2022 00:00:00 GMT"},
		{"day zero", "Sun, 00 Nov 1994 08:49:37 GMT"},
		{"hour 24", "Sun, 06 Nov 1994 24:00:00 GMT"},
		{"minute 60", "Sun, 06 Nov 1994 08:60:00 GMT"},
		{"second 61", "Sun, 06 Nov 1994 08:49:61 GMT"},
		{"sign in a number", "Sun, +6 Nov 1994 08:49:37 GMT"},
		{"fraction of a second", "Sun, 06 Nov 1994 08:49:37.5 GMT"},
		{"ISO 8601", "1994-11-06T08:49:37Z"},
		{"RFC 1123 with a numeric zone (Go's RFC1123Z)", "Sun, 06 Nov 1994 08:49:37 -0700"},
	}
	for _, tt := range invalid {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			if got, ok := parseHTTPDate(tt.in, testDateNow); ok {
				t.Fatalf("parseHTTPDate(%q) accepted it as %v", tt.in, got)
			}
		})
	}
}

func TestHeaderDateOneLine(t *testing.T) {
	d := "Sun, 06 Nov 1994 08:49:37 GMT"
	tests := []struct {
		name string
		h    http.Header
		ok   bool
	}{
		{"one line", http.Header{"Expires": {d}}, true},
		{"absent", http.Header{}, false},
		{"two lines, equal", http.Header{"Expires": {d, d}}, false},
		{"list on one line", http.Header{"Expires": {d + ", " + d}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := headerDate(tt.h, "Expires", testDateNow); ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
		})
	}
}

// FuzzParseHTTPDate: never panics; what it accepts formats back to a date
// it reads the same; and an IMF-fixdate it accepts, http.ParseTime reads
// as the same instant (the strict parser accepts a subset).
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Sun, 06 Nov 1994 8:49:37 GMT", "Sun,  06 Nov 1994 08:49:37 GMT", "0", "", "Thu, 29 Feb 2024 00:00:00 GMT",
		"Sat, 31 Dec 2016 23:59:60 GMT", "Friday, 31-Dec-99 23:59:59 GMT", "sun nov 06 08:49:37 1994",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseHTTPDate(s, testDateNow)
		if !ok {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q: not UTC: %v", s, got)
		}
		again, ok := parseHTTPDate(got.Format(http.TimeFormat), testDateNow)
		if got.Year() >= 0 && got.Year() <= 9999 && (!ok || !again.Equal(got)) {
			t.Fatalf("%q = %v; formatted back it reads %v, %v", s, got, again, ok)
		}
		if len(s) == len(http.TimeFormat) && s[3] == ',' && s[len(s)-3:] == "GMT" {
			lenient, err := http.ParseTime(s)
			if err == nil && !lenient.Equal(got) {
				t.Fatalf("%q: strict %v, http.ParseTime %v", s, got, lenient)
			}
		}
	})
}

// TestRFC9111Section5_3Expires: Expires and Date are read with the strict
// parser. An invalid Expires, or one on several field lines, means already
// expired; the obsolete formats still count; an invalid Date is replaced by
// the response's arrival.
func TestRFC9111Section5_3Expires(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	start := clock.Now()
	in90 := start.Add(90 * time.Second)
	date := start.Format(http.TimeFormat)
	tests := []struct {
		name   string
		resp   []string
		status string // Cache-Status of the second request, a second later
	}{
		{"IMF-fixdate", []string{"Date", date, "Expires", in90.Format(http.TimeFormat)}, "redisware; hit; ttl=89"},
		{"rfc850-date", []string{"Date", date, "Expires", in90.Format("Sunday, 02-Jan-06 15:04:05 GMT")}, "redisware; hit; ttl=89"},
		{"asctime-date", []string{"Date", date, "Expires", in90.Format("Mon Jan _2 15:04:05 2006")}, "redisware; hit; ttl=89"},
		{"one-digit hour is invalid: expired", []string{"Date", date, "Expires", "Sun, 01 Mar 2026 2:00:00 GMT", "ETag", `"e"`}, "redisware; fwd=stale; fwd-status=200; stored"},
		{"doubled space is invalid: expired", []string{"Date", date, "Expires", "Sun,  01 Mar 2026 12:01:30 GMT", "ETag", `"e"`}, "redisware; fwd=stale; fwd-status=200; stored"},
		{"several Expires lines are invalid: expired", []string{"Date", date, "Expires", in90.Format(http.TimeFormat), "Expires", in90.Format(http.TimeFormat), "ETag", `"e"`}, "redisware; fwd=stale; fwd-status=200; stored"},
		{"Expires 0: expired", []string{"Date", date, "Expires", "0", "ETag", `"e"`}, "redisware; fwd=stale; fwd-status=200; stored"},
		{"invalid Date: the arrival stands in", []string{"Date", "Sun, 01 Mar 2026 1:00:00 GMT", "Expires", in90.Format(http.TimeFormat)}, "redisware; hit; ttl=89"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start)
			h := c.Middleware(testStatic(200, "x", tt.resp...))
			url := "http://example.com/expires/" + strconv.Itoa(i)
			testDo(h, "GET", url)
			clock.Add(time.Second)
			if w := testDo(h, "GET", url); w.Header().Get("Cache-Status") != tt.status {
				t.Fatalf("Cache-Status %q, want %q", w.Header().Get("Cache-Status"), tt.status)
			}
		})
	}
}

// TestRFC9110Section13_1_3IfModifiedSince: an If-Modified-Since that is not
// one valid HTTP-date is ignored; a valid one in an obsolete format counts.
func TestRFC9110Section13_1_3IfModifiedSince(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	lm := clock.Now().Add(-time.Hour)
	h := c.Middleware(testStatic(200, "body", "Cache-Control", "max-age=60", "Last-Modified", lm.Format(http.TimeFormat)))
	const url = "http://example.com/ims"
	testDo(h, "GET", url)
	tests := []struct {
		name string
		req  []string
		code int
	}{
		{"IMF-fixdate", []string{"If-Modified-Since", lm.Format(http.TimeFormat)}, 304},
		{"asctime-date", []string{"If-Modified-Since", lm.Format("Mon Jan _2 15:04:05 2006")}, 304},
		{"one-digit hour is ignored", []string{"If-Modified-Since", "Sun, 01 Mar 2026 1:00:00 GMT"}, 200},
		{"two field lines are ignored", []string{"If-Modified-Since", lm.Format(http.TimeFormat), "If-Modified-Since", lm.Format(http.TimeFormat)}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := testDo(h, "GET", url, tt.req...); w.Code != tt.code {
				t.Fatalf("status %d, want %d", w.Code, tt.code)
			}
		})
	}
}
