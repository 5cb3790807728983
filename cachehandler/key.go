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
	scheme, host := schemeHost(u)
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.Grow(len(scheme) + len(host) + len(path) + len(u.RawQuery) + 5)
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	b.WriteString(path)
	if u.RawQuery != "" {
		b.WriteByte('?')
		if q, err := url.ParseQuery(u.RawQuery); err == nil {
			b.WriteString(q.Encode())
		} else {
			b.WriteString(u.RawQuery)
		}
	}
	return b.String()
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
// a single script may touch all of them on Redis Cluster.
type keySet struct {
	hash     string // keys.Hash of the normalised URL
	base     string // <prefix>{<hash>}: the entry, or the variant index
	variants string // <prefix>{<hash>}:variants: set of variant entry keys
	lock     string // <prefix>{<hash>}:lock[:<vhash>]: the filler's token
	fill     string // <hash>[:<vhash>]: names one fill (pending map, announcements)
}

func (c *Cache) keysFor(normalURL string) keySet {
	h := keys.Hash(normalURL)
	base := c.opt.Prefix + "{" + h + "}"
	return keySet{hash: h, base: base, variants: base + ":variants", lock: base + ":lock", fill: h}
}

// genKey is the key of the URL's purge generation,
// <prefix>{<hash>}:gen. It is built when needed, not by keysFor: hits
// never read it.
func (k keySet) genKey() string { return k.base + ":gen" }

// forVariant returns k with the lock and fill identity of the variant
// stored at vkey, so fills of different variants of a URL do not wait for
// each other. Without a known variant ("") k is returned as is.
func (k keySet) forVariant(vkey string) keySet {
	if id, ok := strings.CutPrefix(vkey, k.base+":v:"); ok && id != "" {
		k.lock = k.base + ":lock:" + id
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
