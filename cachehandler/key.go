package cachehandler

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/redisware/redisware/internal/keys"
)

// requestURL returns the absolute URL a request names: its scheme (the
// URL's, else https under TLS, else http), host and request URI.
func requestURL(r *http.Request) *url.URL {
	u := *r.URL
	if u.Scheme == "" {
		u.Scheme = "http"
		if r.TLS != nil {
			u.Scheme = "https"
		}
	}
	if u.Host == "" {
		u.Host = r.Host
	}
	return &u
}

// normalURL is the method-independent cache key of u: lower-case scheme
// and host without a default port, the escaped path ("/" when empty) and the
// query with its parameters sorted by name. A query that does not parse is
// kept as sent, so two different malformed queries never share a key.
func normalURL(u *url.URL) string {
	return string(appendNormalURL(nil, u))
}

// appendNormalURL appends normalURL(u) to dst.
func appendNormalURL(dst []byte, u *url.URL) []byte {
	scheme, host := schemeHost(u)
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	dst = append(dst, scheme...)
	dst = append(dst, "://"...)
	dst = append(dst, host...)
	dst = append(dst, path...)
	if u.RawQuery != "" {
		dst = append(dst, '?')
		if q, err := url.ParseQuery(u.RawQuery); err == nil {
			dst = append(dst, q.Encode()...)
		} else {
			dst = append(dst, u.RawQuery...)
		}
	}
	return dst
}

// schemeHost returns u's scheme and host as keys name them: lower case,
// without a default port.
func schemeHost(u *url.URL) (scheme, host string) {
	scheme = strings.ToLower(u.Scheme)
	host = strings.ToLower(u.Host)
	if p := u.Port(); (p == "80" && scheme == "http") || (p == "443" && scheme == "https") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return scheme, host
}

// sameOrigin reports whether a and b have one origin (scheme, host and
// port, normalised as keys are).
func sameOrigin(a, b *url.URL) bool {
	sa, ha := schemeHost(a)
	sb, hb := schemeHost(b)
	return sa == sb && ha == hb
}

// keySet are the Redis keys of one URL. They all share the {hash tag}, so
// a single script may touch all of them on Redis Cluster. Only base is
// built for every request; the keys a hit does not read are built when
// asked for.
type keySet struct {
	hash string // keys.Hash of the normalised URL (a substring of base)
	base string // <prefix>{<hash>}: the entry, or the variant index
	vid  string // the variant's id (see forVariant), "" for the URL itself
	fill string // <hash>[:<vid>]: names one fill (pending map, announcements)
}

// keysFor returns the keys of the URL whose normalised form is normalURL.
func (c *Cache) keysFor(normalURL string) keySet { return c.keysOf([]byte(normalURL)) }

// keysForURL returns the keys of u (see normalURL), normalising it in a
// buffer of its own.
func (c *Cache) keysForURL(u *url.URL) keySet {
	var buf [256]byte
	return c.keysOf(appendNormalURL(buf[:0], u))
}

// keysOf builds a keySet in one allocation: hash and fill are slices of
// base.
func (c *Cache) keysOf(normalURL []byte) keySet {
	var hb [32]byte
	h := keys.AppendHash(hb[:0], normalURL)
	var b strings.Builder
	b.Grow(len(c.opt.Prefix) + len(h) + 2)
	b.WriteString(c.opt.Prefix)
	b.WriteByte('{')
	b.Write(h)
	b.WriteByte('}')
	base := b.String()
	hash := base[len(c.opt.Prefix)+1 : len(base)-1]
	return keySet{hash: hash, base: base, fill: hash}
}

// variantsKey is the key of the set of the URL's variant entry keys,
// <prefix>{<hash>}:variants.
func (k keySet) variantsKey() string { return k.base + ":variants" }

// lockKey is the key of the filler's token, <prefix>{<hash>}:lock, or
// <prefix>{<hash>}:lock:<vid> for a variant.
func (k keySet) lockKey() string {
	if k.vid == "" {
		return k.base + ":lock"
	}
	return k.base + ":lock:" + k.vid
}

// genKey is the key of the URL's purge generation,
// <prefix>{<hash>}:gen. It is built when needed, not by keysFor: hits
// never read it.
func (k keySet) genKey() string { return k.base + ":gen" }

// forVariant returns k with the lock and fill identity of the variant
// stored at vkey, so fills of different variants of a URL do not wait for
// each other. Without a known variant ("") k is returned as is.
func (k keySet) forVariant(vkey string) keySet {
	if vkey == "" || !strings.HasPrefix(vkey, k.base) {
		return k
	}
	if id, ok := strings.CutPrefix(vkey[len(k.base):], ":v:"); ok && id != "" {
		k.vid = id
		k.fill = k.hash + ":" + id
	}
	return k
}

// variantKey is the key of the variant of k selected by r's values of the
// (normalised) header names. An absent field selects another variant than
// an empty one (RFC 9111 §4.1); no field value holds a NUL to confuse them.
func (k keySet) variantKey(names []string, r *http.Request) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		if vs := r.Header.Values(n); len(vs) == 0 {
			b.WriteByte(0)
		} else {
			b.WriteByte(':')
			b.WriteString(varyValue(vs))
		}
		b.WriteByte('\n')
	}
	return k.base + ":v:" + keys.Hash(b.String())
}

// varyValue normalises the values of one request header for variant
// selection (RFC 9111 §4.1): field lines combined and whitespace around the
// list commas removed.
func varyValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	var parts []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
	}
	return strings.Join(parts, ",")
}

// varyNames returns the normalised header names a response's Vary
// lists: lower case, sorted, distinct. star reports "Vary: *".
func varyNames(h http.Header) (names []string, star bool) {
	for _, v := range h.Values("Vary") {
		for _, n := range strings.Split(v, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			switch n {
			case "":
			case "*":
				return nil, true
			default:
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out, false
}

// tagKey is the key of the set of entry keys tagged tag.
func (c *Cache) tagKey(tag string) string { return c.opt.Prefix + "tag:" + keys.Safe(tag) }
