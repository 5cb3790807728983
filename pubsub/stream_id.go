package pubsub

import (
	"strconv"
	"strings"
)

// streamID is a Redis stream entry ID, "<ms>-<seq>": two unsigned 64-bit
// integers, ordered by ms, then seq. The zero value is "0-0", the ID
// before every entry.
type streamID struct{ ms, seq uint64 }

// maxStreamIDLen is the length of the longest valid ID: two 20-digit
// numbers and the dash. Anything longer is refused before it is parsed.
const maxStreamIDLen = 41

// parseStreamID parses the complete form "<ms>-<seq>", each part 1 to 20
// ASCII digits that fit in a uint64. It accepts nothing else: no sign, no
// space, no "$", "*", "-" or "+", no ms-only shorthand. It reports false
// for anything it refuses, never panics, and reads at most maxStreamIDLen
// bytes of s.
func parseStreamID(s string) (streamID, bool) {
	if len(s) < 3 || len(s) > maxStreamIDLen {
		return streamID{}, false
	}
	i := strings.IndexByte(s, '-')
	if i < 0 {
		return streamID{}, false
	}
	ms, ok := parseIDPart(s[:i])
	if !ok {
		return streamID{}, false
	}
	seq, ok := parseIDPart(s[i+1:])
	if !ok {
		return streamID{}, false
	}
	return streamID{ms, seq}, true
}

// parseIDPart parses 1 to 20 ASCII digits that fit in a uint64.
func parseIDPart(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64) // digits only: fails on overflow alone
	return n, err == nil
}

// String returns the canonical form, as Redis writes it.
func (id streamID) String() string {
	var b [maxStreamIDLen]byte
	return string(id.append(b[:0]))
}

func (id streamID) append(b []byte) []byte {
	b = strconv.AppendUint(b, id.ms, 10)
	b = append(b, '-')
	return strconv.AppendUint(b, id.seq, 10)
}

// compare returns -1, 0 or +1 as id sorts before, with or after o.
func (id streamID) compare(o streamID) int {
	switch {
	case id.ms < o.ms:
		return -1
	case id.ms > o.ms:
		return 1
	case id.seq < o.seq:
		return -1
	case id.seq > o.seq:
		return 1
	}
	return 0
}

// next returns the smallest ID after id, which is where an exclusive read
// after id starts (XRANGE with "(" needs Redis 6.2; this works on any).
// It reports false for the largest ID, after which nothing can follow.
func (id streamID) next() (streamID, bool) {
	switch {
	case id.seq < ^uint64(0):
		return streamID{id.ms, id.seq + 1}, true
	case id.ms < ^uint64(0):
		return streamID{id.ms + 1, 0}, true
	}
	return id, false
}

// prev returns the largest ID before id, where a read that must include
// id starts. It returns 0-0 for 0-0, before which there is nothing.
func (id streamID) prev() streamID {
	switch {
	case id.seq > 0:
		return streamID{id.ms, id.seq - 1}
	case id.ms > 0:
		return streamID{id.ms - 1, ^uint64(0)}
	}
	return id
}
