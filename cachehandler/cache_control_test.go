package cachehandler

import (
	"net/http"
	"testing"
)

var ccTestCases = []struct {
	name string
	in   []string
	want ccDirectives
}{
	{"empty", nil, ccTestDefaults(func(d *ccDirectives) {})},
	{"max-age", []string{"max-age=60"}, ccTestDefaults(func(d *ccDirectives) { d.maxAge = 60 })},
	{"case and spaces", []string{"  Max-Age = 60 ,PUBLIC"}, ccTestDefaults(func(d *ccDirectives) { d.maxAge = 60; d.public = true })},
	{"quoted value", []string{`max-age="30"`}, ccTestDefaults(func(d *ccDirectives) { d.maxAge = 30 })},
	{"first occurrence wins", []string{"max-age=10", "max-age=20"}, ccTestDefaults(func(d *ccDirectives) { d.maxAge = 10 })},
	{"invalid delta is stale", []string{"max-age=abc, s-maxage=-1"}, ccTestDefaults(func(d *ccDirectives) { d.maxAge = 0; d.sMaxAge = 0 })},
	{"huge delta capped", []string{"max-age=99999999999999999999"}, ccTestDefaults(func(d *ccDirectives) { d.maxAge = ccMaxDelta })},
	{"qualified no-cache with comma in quotes", []string{`no-cache="Set-Cookie, X-A", max-age=5`}, ccTestDefaults(func(d *ccDirectives) { d.noCache = true; d.maxAge = 5 })},
	{"qualified private", []string{`private="X", s-maxage=5`}, ccTestDefaults(func(d *ccDirectives) { d.private = true; d.sMaxAge = 5 })},
	{"escaped quote", []string{`x="a\"b,c", no-store`}, ccTestDefaults(func(d *ccDirectives) { d.noStore = true })},
	{"max-stale without value", []string{"max-stale"}, ccTestDefaults(func(d *ccDirectives) { d.maxStaleAny = true })},
	{"max-stale with value", []string{"max-stale=30, min-fresh=5"}, ccTestDefaults(func(d *ccDirectives) { d.maxStale = 30; d.minFresh = 5 })},
	{"stale windows", []string{"stale-while-revalidate=30,stale-if-error=60"}, ccTestDefaults(func(d *ccDirectives) { d.swr = 30; d.sie = 60 })},
	{"request flags", []string{"only-if-cached, no-cache"}, ccTestDefaults(func(d *ccDirectives) { d.onlyIfCached = true; d.noCache = true })},
	{"response flags", []string{"must-revalidate, proxy-revalidate, immutable, must-understand"}, ccTestDefaults(func(d *ccDirectives) {
		d.mustRevalidate, d.proxyRevalidate, d.immutable, d.mustUnderstand = true, true, true, true
	})},
	{"junk", []string{",,,=,=x, ,\"", "unknown=1"}, ccTestDefaults(func(d *ccDirectives) {})},
}

func ccTestDefaults(f func(*ccDirectives)) ccDirectives {
	d := ccDirectives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	f(&d)
	return d
}

func TestCCParse(t *testing.T) {
	for _, tt := range ccTestCases {
		t.Run(tt.name, func(t *testing.T) {
			if got := ccParse(tt.in); got != tt.want {
				t.Fatalf("ccParse(%q) =\n%+v, want\n%+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCCRequestPragma(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		noCache bool
	}{
		{"pragma alone", http.Header{"Pragma": {"no-cache"}}, true},
		{"pragma list", http.Header{"Pragma": {"x, No-Cache"}}, true},
		{"cache-control wins", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}, false},
		{"neither", http.Header{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ccRequest(tt.h).noCache; got != tt.noCache {
				t.Fatalf("noCache = %v", got)
			}
		})
	}
}

func FuzzCCParse(f *testing.F) {
	for _, tt := range ccTestCases {
		for _, s := range tt.in {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ccParse([]string{s})
		for _, v := range []int64{d.maxAge, d.sMaxAge, d.maxStale, d.minFresh, d.swr, d.sie} {
			if v < -1 || v > ccMaxDelta {
				t.Fatalf("ccParse(%q): delta %d out of range", s, v)
			}
		}
		if again := ccParse([]string{s}); again != d {
			t.Fatalf("ccParse(%q) is not deterministic", s)
		}
	})
}
