package middleware

import "net/http"

// Chain composes middlewares in reading order: Chain(a, b, c)(h) is
// a(b(c(h))), so a request meets a first. Nil entries are skipped.
func Chain(mws ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	mws = append([]func(http.Handler) http.Handler(nil), mws...)
	return func(h http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			if mws[i] != nil {
				h = mws[i](h)
			}
		}
		return h
	}
}
