package cachehandler

import (
	"net/http"
	"strings"
)

// ccMaxDelta is the largest delta-seconds value kept: RFC 9111 §1.2.2 says a
// larger one is treated as 2^31.
const ccMaxDelta = 1 << 31

// ccDirectives is a parsed Cache-Control field (request or response). Delta
// values are seconds; -1 means the directive is absent. A directive whose
// value is not a valid delta-seconds is kept as 0, which makes a response
// stale at once (RFC 9111 §4.2.1: invalid freshness information means stale).
type ccDirectives struct {
	maxAge, sMaxAge, maxStale, minFresh int64
	swr, sie                            int64

	// maxStaleAny is max-stale without a value: any staleness is accepted.
	maxStaleAny bool

	noCache, noStore, private, public       bool
	mustRevalidate, proxyRevalidate         bool
	onlyIfCached, mustUnderstand, immutable bool
}

// ccParse parses every Cache-Control field line in values. It never fails:
// unknown directives are ignored, a repeated directive keeps its first
// occurrence (RFC 9111 §4.2.1), and qualified no-cache="..." or
// private="..." count as their unqualified forms, which is what a shared
// cache that does not strip the named fields must do.
func ccParse(values []string) ccDirectives {
	d := ccDirectives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	for _, line := range values {
		for len(line) > 0 {
			var name, value string
			name, value, line = ccNext(line)
			if name == "" {
				continue
			}
			d.set(name, value)
		}
	}
	return d
}

// ccNext splits the first directive off s: its lower-cased name, its value
// (unquoted) and the rest after the comma.
func ccNext(s string) (name, value, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' {
		i++
	}
	name = strings.ToLower(strings.TrimSpace(s[:i]))
	if i == len(s) || s[i] == ',' {
		if i < len(s) {
			i++
		}
		return name, "", s[i:]
	}
	// s[i] == '='
	s = strings.TrimLeft(s[i+1:], " \t")
	if len(s) > 0 && s[0] == '"' {
		// quoted-string; a backslash escapes the next character.
		var b strings.Builder
		j := 1
		for ; j < len(s); j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				j++
				b.WriteByte(s[j])
				continue
			}
			if c == '"' {
				j++
				break
			}
			b.WriteByte(c)
		}
		value = b.String()
		s = s[j:]
		if k := strings.IndexByte(s, ','); k >= 0 {
			return name, value, s[k+1:]
		}
		return name, value, ""
	}
	k := strings.IndexByte(s, ',')
	if k < 0 {
		return name, strings.TrimSpace(s), ""
	}
	return name, strings.TrimSpace(s[:k]), s[k+1:]
}

// ccDelta parses delta-seconds; ok is false for anything but digits.
func ccDelta(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < ccMaxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > ccMaxDelta {
		n = ccMaxDelta
	}
	return n, true
}

func (d *ccDirectives) setDelta(p *int64, v string) {
	if *p >= 0 {
		return // first occurrence wins
	}
	n, ok := ccDelta(v)
	if !ok {
		n = 0
	}
	*p = n
}

func (d *ccDirectives) set(name, value string) {
	switch name {
	case "max-age":
		d.setDelta(&d.maxAge, value)
	case "s-maxage":
		d.setDelta(&d.sMaxAge, value)
	case "min-fresh":
		d.setDelta(&d.minFresh, value)
	case "stale-while-revalidate":
		d.setDelta(&d.swr, value)
	case "stale-if-error":
		d.setDelta(&d.sie, value)
	case "max-stale":
		if d.maxStale >= 0 || d.maxStaleAny {
			return
		}
		if value == "" {
			d.maxStaleAny = true
			return
		}
		d.setDelta(&d.maxStale, value)
	case "no-cache":
		d.noCache = true
	case "no-store":
		d.noStore = true
	case "private":
		d.private = true
	case "public":
		d.public = true
	case "must-revalidate":
		d.mustRevalidate = true
	case "proxy-revalidate":
		d.proxyRevalidate = true
	case "only-if-cached":
		d.onlyIfCached = true
	case "must-understand":
		d.mustUnderstand = true
	case "immutable":
		d.immutable = true
	}
}

// ccRequest parses a request's directives; without any Cache-Control field,
// "Pragma: no-cache" counts as no-cache (RFC 9111 §5.4).
func ccRequest(h http.Header) ccDirectives {
	cc := h.Values("Cache-Control")
	d := ccParse(cc)
	if len(cc) == 0 {
		for _, p := range h.Values("Pragma") {
			for _, t := range strings.Split(p, ",") {
				if strings.EqualFold(strings.TrimSpace(t), "no-cache") {
					d.noCache = true
				}
			}
		}
	}
	return d
}
