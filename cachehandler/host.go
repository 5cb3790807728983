package cachehandler

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/redisware/redisware/internal/httpwrap"
)

// hostsFunc returns the CanonicalHost function of Options.Hosts: a request
// is cached under its own host when that host, normalised as keys
// normalise it, is one of hosts. It reports an entry that is not a plain
// host[:port].
func hostsFunc(hosts []string) (func(*http.Request) (string, bool), error) {
	set := make(map[string]struct{}, len(hosts))
	for _, e := range hosts {
		h, err := normalHost(e)
		if err != nil {
			return nil, err
		}
		set[h] = struct{}{}
	}
	return func(r *http.Request) (string, bool) {
		h := requestHost(r)
		_, ok := set[h]
		return h, ok
	}, nil
}

// normalHost validates an Options.Hosts entry and returns it as request
// hosts are compared: lower case, without a default port (80, 443).
func normalHost(e string) (string, error) {
	h := strings.ToLower(e)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("cachehandler: Hosts entry %q %s", e, why)
	}
	if strings.Contains(h, "*") {
		return bad("is a pattern; use CanonicalHost to match patterns")
	}
	u, err := url.Parse("http://" + h)
	if err != nil || u.Host != h || u.User != nil || u.Hostname() == "" || strings.HasSuffix(h, ":") {
		return bad("is not a host or host:port")
	}
	if p := u.Port(); p == "80" || p == "443" {
		h = strings.TrimSuffix(h, ":"+p)
	}
	return h, nil
}

// requestHost is the host of r's URL as keys name it (schemeHost of
// requestURL), without copying the URL.
func requestHost(r *http.Request) string {
	u := url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host}
	if u.Scheme == "" {
		u.Scheme = "http"
		if r.TLS != nil {
			u.Scheme = "https"
		}
	}
	if u.Host == "" {
		u.Host = r.Host
	}
	_, h := schemeHost(&u)
	return h
}

// cacheURL returns the URL r is cached under: requestURL(r) with its host
// replaced by Options.CanonicalHost's (which Options.Hosts sets), and
// false when r's host is not one the cache serves. It returns a value, so
// a hit's URL stays off the heap.
func (c *Cache) cacheURL(r *http.Request) (url.URL, bool) {
	u := *requestURL(r)
	if c.opt.CanonicalHost == nil {
		return u, true
	}
	h, ok := c.opt.CanonicalHost(r)
	if !ok || h == "" {
		return url.URL{}, false
	}
	u.Host = h
	return u, true
}

// purgeURLs returns the URLs Purge removes for u: u under http and https,
// each with its host mapped by Options.CanonicalHost as a GET request for
// it would be (a request carrying only its URL, Host and, for https, a
// non-nil TLS). It reports false when neither scheme's host is served.
func (c *Cache) purgeURLs(u *url.URL) ([]*url.URL, bool) {
	base := *u
	_, base.Host = schemeHost(u) // without the given scheme's default port
	var out []*url.URL
	for _, scheme := range []string{"http", "https"} {
		v := base
		v.Scheme = scheme
		if c.opt.CanonicalHost != nil {
			r := &http.Request{Method: http.MethodGet, URL: &v, Host: v.Host, Header: http.Header{}}
			if scheme == "https" {
				r.TLS = &tls.ConnectionState{}
			}
			h, ok := c.opt.CanonicalHost(r)
			if !ok || h == "" {
				continue
			}
			v.Host = h
		}
		out = append(out, &v)
	}
	return out, len(out) > 0
}

// bypass runs next for a request whose host the cache does not serve: no
// Redis call, Cache-Tag kept from the client, and Cache-Status saying the
// cache stood aside (RFC 9211 fwd=bypass).
func (c *Cache) bypass(w http.ResponseWriter, r *http.Request, next http.Handler) {
	status := c.status("fwd=bypass", "detail=unknown-host")
	hw := httpwrap.New(w, httpwrap.Options{BeforeHeader: func(hw *httpwrap.Writer, _ int) {
		hw.Header().Del("Cache-Tag")
		hw.Header().Set("Cache-Status", status)
	}})
	next.ServeHTTP(hw, r)
	c.served(r, ServeBypass, "unknown-host", hw.Written())
}
