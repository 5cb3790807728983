package middleware

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type clientIPKey struct{}

// ClientIP returns a middleware that resolves the client's address and
// stores it in the request context, where ClientIPFromContext reads it.
//
// The address is the peer's (r.RemoteAddr) unless the peer lies in one of
// the trusted prefixes. Only then are X-Forwarded-For and RFC 7239 Forwarded
// read, from the right: trusted hops are skipped and the first untrusted hop
// is the client. An untrusted peer can never choose its address through
// headers. When every hop is trusted, the leftmost one is the client. A
// garbage hop ends the walk: the last address known good (the hop to its
// right) is the client, so garbage never wins and never panics.
//
// When both headers are present, Forwarded is used, as the standard one.
// IPv4-mapped IPv6 addresses are unmapped and zones dropped, so one client
// has one address.
//
// With no trusted prefixes, ClientIP uses RemoteAddr alone.
func ClientIP(trusted ...netip.Prefix) func(http.Handler) http.Handler {
	ps := make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		ps = append(ps, p.Masked())
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ip, ok := resolveClientIP(r, ps); ok {
				r = r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ClientIPFromContext returns the address ClientIP stored in ctx, and
// whether there was one.
func ClientIPFromContext(ctx context.Context) (netip.Addr, bool) {
	ip, ok := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip, ok
}

// RemoteIP parses r.RemoteAddr ("host:port", or a bare host) into a
// normalized address.
func RemoteIP(r *http.Request) (netip.Addr, bool) {
	// "host:port" first, as a server sets it: parseHop tries a bare host
	// first, and its failure costs an allocated error on every request.
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return normalize(ap.Addr()), true
	}
	return parseHop(r.RemoteAddr)
}

func resolveClientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, ok := RemoteIP(r)
	if !ok {
		return netip.Addr{}, false
	}
	if !isTrusted(peer, trusted) {
		return peer, true
	}
	var hops []string
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		hops = forwardedFor(fwd)
	} else {
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = ip
		if !isTrusted(ip, trusted) {
			break
		}
	}
	return client, true
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor returns the for= values of RFC 7239 Forwarded header values,
// in order. An element without for= yields "" (an unknown hop).
func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			hop := ""
			for _, pair := range strings.Split(elem, ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
					hop = strings.Trim(strings.TrimSpace(val), `"`)
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// parseHop parses one hop: "1.2.3.4", "1.2.3.4:80", "::1", "[::1]",
// "[::1]:80", "fe80::1%eth0". Obfuscated and unknown identifiers fail.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return normalize(ip), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			return normalize(ip), true
		}
		return netip.Addr{}, false
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if ip, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return normalize(ip), true
		}
	}
	return netip.Addr{}, false
}

func normalize(ip netip.Addr) netip.Addr {
	return ip.Unmap().WithZone("")
}
