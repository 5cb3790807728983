package cachehandler

import (
	"net/http"

	"github.com/dunglas/httpsfv"
)

// responseDirectives returns the response directives this cache obeys for
// h: those of the first targeted field of the target list (RFC 9213 §2.1)
// that h carries with a valid, non-empty value, and targeted true; else
// those of Cache-Control. With a targeted field, Cache-Control and Expires
// are ignored for this cache's own decisions (the caller must skip
// Expires); every field still goes downstream as the handler set it.
func (c *Cache) responseDirectives(h http.Header) (cc ccDirectives, targeted bool) {
	for _, name := range c.opt.TargetedFields {
		if vs := h[name]; len(vs) > 0 {
			if d, ok := parseTargeted(vs); ok {
				return d, true
			}
		}
	}
	return ccParse(h.Values("Cache-Control")), false
}

// parseTargeted parses the field lines of a targeted field as a Structured
// Fields Dictionary (RFC 8941/9651). ok is false when it does not parse or
// is empty: RFC 9213 §2.2 has such a field ignored entirely.
//
// Each member is a response directive, with the value types RFC 9213 §2.2
// infers; parameters are ignored, and so are unknown directives.
//
//   - max-age, s-maxage, stale-while-revalidate and stale-if-error need a
//     non-negative Integer. Any other value (a Decimal such as 1.5, a
//     String, a Token, a Boolean) is not coerced: the directive is invalid,
//     which counts as 0, so the response is stale at once (RFC 9111 §4.2.1),
//     as an invalid delta-seconds in Cache-Control does here.
//   - no-store, no-cache, private, must-revalidate, proxy-revalidate and
//     must-understand restrict the cache: they hold with any value but a
//     Boolean false (no-cache and private take a String of field names,
//     which counts as their unqualified form, as in Cache-Control). Erring
//     on storing less is always safe; ignoring a mistyped no-store is not.
//   - public and immutable widen what the cache does, so they hold only as
//     a Boolean true.
//
// A directive named twice keeps its last value, as Structured Fields
// dictionaries do.
func parseTargeted(vs []string) (ccDirectives, bool) {
	dict, err := httpsfv.UnmarshalDictionary(vs)
	if err != nil || len(dict.Names()) == 0 {
		return ccDirectives{}, false
	}
	d := ccDirectives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	for _, name := range dict.Names() {
		m, _ := dict.Get(name)
		item, isItem := m.(httpsfv.Item)
		var v any
		if isItem {
			v = item.Value
		}
		restricts := v != false // an Inner List, too, is a value other than false
		widens := v == true
		switch name {
		case "max-age":
			d.maxAge = targetedDelta(v)
		case "s-maxage":
			d.sMaxAge = targetedDelta(v)
		case "stale-while-revalidate":
			d.swr = targetedDelta(v)
		case "stale-if-error":
			d.sie = targetedDelta(v)
		case "no-store":
			d.noStore = restricts
		case "no-cache":
			d.noCache = restricts
		case "private":
			d.private = restricts
		case "must-revalidate":
			d.mustRevalidate = restricts
		case "proxy-revalidate":
			d.proxyRevalidate = restricts
		case "must-understand":
			d.mustUnderstand = restricts
		case "public":
			d.public = widens
		case "immutable":
			d.immutable = widens
		}
	}
	return d, true
}

// targetedDelta returns a delta-seconds directive's value: a non-negative
// Integer, capped at 2^31 (RFC 9111 §1.2.2), or 0 for anything else.
func targetedDelta(v any) int64 {
	n, ok := v.(int64)
	if !ok || n < 0 {
		return 0
	}
	return min(n, ccMaxDelta)
}
