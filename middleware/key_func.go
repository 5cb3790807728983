package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// KeyFunc derives the key a request is limited or cached by. An error means
// the request has no usable key; the caller decides what that answers.
type KeyFunc func(*http.Request) (string, error)

// ErrNoKey is wrapped by the errors KeyFuncs return when a request lacks
// what the key is made of.
var ErrNoKey = errors.New("middleware: request has no key")

// KeyByIP keys a request by its client address: the one ClientIP resolved,
// or RemoteAddr when ClientIP did not run. IPv6 addresses are grouped by
// their /64, as one host usually holds a whole /64.
func KeyByIP(r *http.Request) (string, error) {
	ip, ok := ClientIPFromContext(r.Context())
	if !ok {
		if ip, ok = RemoteIP(r); !ok {
			return "", fmt.Errorf("%w: unparsable remote address", ErrNoKey)
		}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String(), nil
	}
	return ip.String(), nil
}

// KeyByHeader returns a KeyFunc that keys a request by the value of the
// header name. A missing or empty header is an error wrapping ErrNoKey.
// The value is untrusted: consumers hash it before it enters a Redis key.
func KeyByHeader(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) (string, error) {
		v := strings.TrimSpace(r.Header.Get(name))
		if v == "" {
			return "", fmt.Errorf("%w: header %s is missing", ErrNoKey, name)
		}
		return v, nil
	}
}

// KeyByPath keys a request by its URL path, so a limit applies per route
// and not per router.
func KeyByPath(r *http.Request) (string, error) {
	return r.URL.Path, nil
}

// JoinKeys returns a KeyFunc that combines the keys of fns, in order, into
// one; the first error wins. JoinKeys(KeyByIP, KeyByPath) limits each
// client on each path. With no fns the key is "".
//
// Each key is written as its length in bytes, ':' and the key itself, and
// the pieces are separated by ',' (for 203.0.113.9 and /login,
// "11:203.0.113.9,6:/login"), so two different lists of keys never make
// the same key, whatever characters the keys hold: ("a:b", "c") gives
// "3:a:b,1:c" and ("a", "b:c") gives "1:a,3:b:c". The result is as long as
// the keys together plus at most 21 bytes per key.
func JoinKeys(fns ...KeyFunc) KeyFunc {
	fns = append([]KeyFunc(nil), fns...)
	return func(r *http.Request) (string, error) {
		var buf [64]byte
		b := buf[:0]
		for i, fn := range fns {
			k, err := fn(r)
			if err != nil {
				return "", err
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(len(k)), 10)
			b = append(b, ':')
			b = append(b, k...)
		}
		return string(b), nil
	}
}
