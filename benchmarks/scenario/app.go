package scenario

import (
	"math/rand/v2"
	"net/http"
	"strconv"
)

// BodySize is the size of the app's answer in every scenario but the cache
// ones.
const BodySize = 100

var appBody = func() []byte {
	b := []byte("redisware benchmark: this is the application's answer, the same for every implementation.")
	for len(b) < BodySize-1 {
		b = append(b, '.')
	}
	return append(b, '\n')
}()

// App returns the application handler every middleware wraps: a ~100-byte
// text answer, as cheap as a handler gets, so the middleware's cost shows.
func App() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		h["Content-Length"] = []string{strconv.Itoa(len(appBody))}
		_, _ = w.Write(appBody)
	})
}

// counterBody is the app's answer for a session scenario: the counter,
// padded to BodySize.
func counterBody(w http.ResponseWriter, n int64) {
	var buf [BodySize]byte
	b := append(buf[:0], "redisware benchmark: the session counter is "...)
	b = strconv.AppendInt(b, n, 10)
	for len(b) < BodySize-1 {
		b = append(b, '.')
	}
	b = append(b, '\n')
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	_, _ = w.Write(b)
}

// cacheBody returns n bytes of printable text that does not compress much
// (hex of seeded random bytes), like a real page after minification: it keeps
// a cache that compresses entries from winning on an artificial body.
func cacheBody(n int) []byte {
	const hexdigits = "0123456789abcdef"
	r := rand.New(rand.NewPCG(13, 13))
	b := make([]byte, n)
	for i := range b {
		b[i] = hexdigits[r.IntN(16)]
	}
	if n > 0 {
		b[n-1] = '\n'
	}
	return b
}

// cacheApp is the origin behind the cache scenarios: a cacheable body of
// size bytes. Every call counts in origin.
func cacheApp(size int, origin interface{ Add(int64) int64 }) http.Handler {
	body := cacheBody(size)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		origin.Add(1)
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}
