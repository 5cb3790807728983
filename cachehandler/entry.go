package cachehandler

import (
	"encoding/binary"
	"errors"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Every value the cache stores starts with entryMagic, a version byte and a
// kind byte, so foreign or older data is recognised and treated as a miss.
const (
	entryMagic       = "rwc"
	entryVersion     = 1
	entryKindEntry   = 'E' // a stored response
	entryKindVariant = 'V' // a variant index: the Vary header names of a URL
)

// Flags of a stored entry.
const (
	// entryFlagAuthOK: the response may answer requests with Authorization
	// (it had public, s-maxage or must-revalidate; RFC 9111 §3.5).
	entryFlagAuthOK = 1 << iota
	// entryFlagMustRevalidate: once stale it must not be served without
	// revalidation (must-revalidate, proxy-revalidate or s-maxage).
	entryFlagMustRevalidate
	// entryFlagNoCache: the response had no-cache; it is stored but every
	// use revalidates.
	entryFlagNoCache
)

// entryErrCorrupt is what decoding returns for anything that is not an entry
// this version wrote.
var entryErrCorrupt = errors.New("cachehandler: corrupt or foreign cache entry")

// cacheEntry is one stored response.
type cacheEntry struct {
	status int
	flags  byte
	header http.Header
	body   []byte
	// values is how many values header holds, when entryDecode counted
	// them (0: not counted).
	values int

	// requestTime and responseTime are RFC 9111 §4.2.3's request_time and
	// response_time; initialAge is its corrected_initial_age.
	requestTime, responseTime time.Time
	initialAge                time.Duration
	// fresh is the freshness lifetime; swr and sie are the
	// stale-while-revalidate and stale-if-error windows (0 when absent).
	fresh, swr, sie time.Duration
}

// age is the entry's current_age at now. It saturates instead of
// overflowing: an entry whose Date lay centuries back is very old, not
// fresh.
func (e *cacheEntry) age(now time.Time) time.Duration {
	resident := now.Sub(e.responseTime)
	if resident > 0 && e.initialAge > math.MaxInt64-resident {
		return math.MaxInt64
	}
	return max(e.initialAge+resident, 0)
}

// ttl is how much freshness is left at now; negative once stale.
func (e *cacheEntry) ttl(now time.Time) time.Duration { return e.fresh - e.age(now) }

// hasValidator reports whether the entry can be revalidated with a
// conditional request.
func (e *cacheEntry) hasValidator() bool {
	return e.header.Get("Etag") != "" || e.header.Get("Last-Modified") != ""
}

// entryEncode appends e in the binary format:
//
//	"rwc" version 'E' flags status:uvarint
//	requestTime responseTime (unix ns, varint) initialAge fresh swr sie (ns, varint)
//	nheaders:uvarint { name:str nvalues:uvarint { value:str } }
//	body (the rest)
//
// where str is a uvarint length and the bytes.
func entryEncode(dst []byte, e *cacheEntry) []byte {
	dst = append(dst, entryMagic...)
	dst = append(dst, entryVersion, entryKindEntry, e.flags)
	dst = binary.AppendUvarint(dst, uint64(e.status))
	dst = binary.AppendVarint(dst, e.requestTime.UnixNano())
	dst = binary.AppendVarint(dst, e.responseTime.UnixNano())
	for _, d := range [...]time.Duration{e.initialAge, e.fresh, e.swr, e.sie} {
		dst = binary.AppendVarint(dst, int64(d))
	}
	names := make([]string, 0, len(e.header))
	for k := range e.header {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic bytes for equal entries
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, k := range names {
		vs := e.header[k]
		dst = entryAppendString(dst, k)
		dst = binary.AppendUvarint(dst, uint64(len(vs)))
		for _, v := range vs {
			dst = entryAppendString(dst, v)
		}
	}
	return append(dst, e.body...)
}

// entryEncodedSize is an upper bound of the length of e's encoding, so
// that entryEncode writes into one buffer.
func entryEncodedSize(e *cacheEntry) int {
	n := len(entryMagic) + 3 + binary.MaxVarintLen64*7 + len(e.body)
	for k, vs := range e.header {
		n += binary.MaxVarintLen64*2 + len(k)
		for _, v := range vs {
			n += binary.MaxVarintLen64 + len(v)
		}
	}
	return n
}

func entryAppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// entryReader reads the format; any short or bad read sets err and makes
// every later read return zero values.
type entryReader struct {
	b   []byte
	err bool
}

func (r *entryReader) uvarint() uint64 {
	if r.err {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) varint() int64 {
	if r.err {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) duration() time.Duration {
	d := r.varint()
	if d < 0 {
		r.err = true
		return 0
	}
	return time.Duration(d)
}

// entryKind returns the kind byte of a stored value, or 0 when b is not a
// value this version wrote.
func entryKind(b []byte) byte {
	if len(b) < len(entryMagic)+2 || string(b[:len(entryMagic)]) != entryMagic || b[len(entryMagic)] != entryVersion {
		return 0
	}
	return b[len(entryMagic)+1]
}

// entryDecode parses an entry. It never panics and bounds its allocations by
// len(b); the body aliases b.
func entryDecode(b []byte) (*cacheEntry, error) {
	e := new(cacheEntry)
	if err := entryDecodeInto(e, b); err != nil {
		return nil, err
	}
	return e, nil
}

// entryDecodeInto is entryDecode into e, which it overwrites.
func entryDecodeInto(e *cacheEntry, b []byte) error {
	if entryKind(b) != entryKindEntry || len(b) < len(entryMagic)+3 {
		return entryErrCorrupt
	}
	r := entryReader{b: b[len(entryMagic)+2:]}
	*e = cacheEntry{flags: r.b[0]}
	r.b = r.b[1:]
	status := r.uvarint()
	if status < 100 || status > 999 {
		return entryErrCorrupt
	}
	e.status = int(status)
	e.requestTime = time.Unix(0, r.varint())
	e.responseTime = time.Unix(0, r.varint())
	e.initialAge = r.duration()
	e.fresh = r.duration()
	e.swr = r.duration()
	e.sie = r.duration()
	n := r.uvarint()
	// Each header takes at least two bytes, which bounds the map size.
	if r.err || n > uint64(len(r.b))/2 {
		return entryErrCorrupt
	}
	// Pass 1 validates the header section and measures it, so pass 2 can
	// take every name and value from one string and every value slice from
	// one array: three allocations however many fields there are.
	section := r.b
	var values uint64
	for i := uint64(0); i < n && !r.err; i++ {
		r.skip()
		nv := r.uvarint()
		if nv == 0 || nv > uint64(len(r.b)) {
			r.err = true
			break
		}
		values += nv
		for j := uint64(0); j < nv && !r.err; j++ {
			r.skip()
		}
	}
	if r.err {
		return entryErrCorrupt
	}
	e.body = r.b
	e.values = int(values)
	text := string(section[:len(section)-len(r.b)])
	all := make([]string, values)
	e.header = make(http.Header, n)
	p := entryStrings{s: text}
	for i := uint64(0); i < n; i++ {
		k := p.next()
		nv := p.count()
		vs := all[:nv:nv]
		all = all[nv:]
		for j := range vs {
			vs[j] = p.next()
		}
		e.header[k] = vs
	}
	return nil
}

// skip passes over one length-prefixed string.
func (r *entryReader) skip() {
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return
	}
	r.b = r.b[n:]
}

// entryStrings walks a header section already validated by entryDecode's
// first pass, slicing names and values out of one string.
type entryStrings struct {
	s string
}

func (p *entryStrings) count() uint64 {
	var v uint64
	var shift uint
	for i := 0; i < len(p.s); i++ {
		c := p.s[i]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			p.s = p.s[i+1:]
			return v
		}
		shift += 7
	}
	return v // unreachable: pass 1 validated the section
}

func (p *entryStrings) next() string {
	n := p.count()
	s := p.s[:n]
	p.s = p.s[n:]
	return s
}

// entryEncodeVariants encodes a variant index: the normalised (lower-case,
// sorted, distinct) names of the request headers a URL's responses vary on.
func entryEncodeVariants(names []string) []byte {
	dst := append([]byte(entryMagic), entryVersion, entryKindVariant)
	return append(dst, strings.Join(names, ",")...)
}

// entryDecodeVariants parses a variant index.
func entryDecodeVariants(b []byte) ([]string, error) {
	if entryKind(b) != entryKindVariant {
		return nil, entryErrCorrupt
	}
	rest := string(b[len(entryMagic)+2:])
	if rest == "" {
		return nil, entryErrCorrupt
	}
	names := strings.Split(rest, ",")
	for _, n := range names {
		if n == "" {
			return nil, entryErrCorrupt
		}
	}
	return names, nil
}
