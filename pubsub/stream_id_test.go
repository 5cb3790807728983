package pubsub

import (
	"errors"
	"strings"
	"testing"
)

func TestParseStreamID(t *testing.T) {
	const max = "18446744073709551615"
	tests := []struct {
		in   string
		want streamID
		ok   bool
	}{
		{"0-0", streamID{}, true},
		{"1-0", streamID{1, 0}, true},
		{"1700000000000-12", streamID{1700000000000, 12}, true},
		{max + "-" + max, streamID{^uint64(0), ^uint64(0)}, true},
		{"007-01", streamID{7, 1}, true}, // Redis reads leading zeros too
		{"", streamID{}, false},
		{"1", streamID{}, false}, // ms-only shorthand: never an event ID
		{"1-", streamID{}, false},
		{"-1", streamID{}, false},
		{"-", streamID{}, false},
		{"1-2-3", streamID{}, false},
		{"1--2", streamID{}, false},
		{"+1-0", streamID{}, false},
		{"1-+0", streamID{}, false},
		{" 1-0", streamID{}, false},
		{"1-0 ", streamID{}, false},
		{"1_0", streamID{}, false},
		{"0x1-0", streamID{}, false},
		{"$", streamID{}, false},
		{"*", streamID{}, false},
		{"1-*", streamID{}, false},
		{"1-0\n", streamID{}, false},
		{"١-٠", streamID{}, false},                     // non-ASCII digits
		{"18446744073709551616-0", streamID{}, false},  // ms overflows
		{"0-18446744073709551616", streamID{}, false},  // seq overflows
		{"99999999999999999999-0", streamID{}, false},  // 20 digits, too big
		{"000000000000000000001-0", streamID{}, false}, // 21 digits
		{strings.Repeat("1", 1000) + "-0", streamID{}, false},
		{strings.Repeat("1", 1<<20), streamID{}, false},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			got, ok := parseStreamID(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("parseStreamID(%.60q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestStreamIDOrderAndNext(t *testing.T) {
	max := ^uint64(0)
	tests := []struct {
		name   string
		id     streamID
		next   streamID
		nextOK bool
	}{
		{"zero", streamID{}, streamID{0, 1}, true},
		{"seq", streamID{5, 7}, streamID{5, 8}, true},
		{"seq wraps to next ms", streamID{5, max}, streamID{6, 0}, true},
		{"ms boundary", streamID{6, 0}, streamID{6, 1}, true},
		{"largest", streamID{max, max}, streamID{max, max}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := tt.id.next()
			if n != tt.next || ok != tt.nextOK {
				t.Fatalf("next(%v) = %v, %v; want %v, %v", tt.id, n, ok, tt.next, tt.nextOK)
			}
			if ok && tt.id.compare(n) != -1 || ok && n.compare(tt.id) != 1 {
				t.Fatalf("%v does not sort before its next %v", tt.id, n)
			}
			if tt.id.compare(tt.id) != 0 {
				t.Fatalf("%v is not equal to itself", tt.id)
			}
			if ok && n.prev() != tt.id {
				t.Fatalf("prev(next(%v)) = %v", tt.id, n.prev())
			}
		})
	}
	if (streamID{1, 9}).compare(streamID{2, 0}) != -1 {
		t.Fatal("ms must order before seq")
	}
	if p := (streamID{}).prev(); p != (streamID{}) {
		t.Fatalf("prev(0-0) = %v", p)
	}
}

// TestResume: where a reader resumes, and when it is told entries may be
// lost, from what the stream holds.
func TestResume(t *testing.T) {
	r := &streamReader{maxLen: 10}
	id := func(ms, seq uint64) streamID { return streamID{ms, seq} }
	held := func(first, last streamID, n int64) located {
		return located{exists: true, first: first, last: last, length: n}
	}
	tests := []struct {
		name    string
		at      streamID
		loc     located
		lost    bool
		invalid bool
	}{
		{"origin, no stream", streamID{}, located{}, false, false},
		{"origin, stream never trimmed", streamID{}, held(id(5, 0), id(9, 0), 9), false, false},
		{"origin, stream full: may be trimmed", streamID{}, held(id(5, 0), id(9, 0), 10), true, false},
		{"no stream: expired", id(3, 0), located{}, true, false},
		{"beyond the last", id(9, 1), held(id(5, 0), id(9, 0), 3), false, true},
		{"at the last", id(9, 0), held(id(5, 0), id(9, 0), 3), false, false},
		{"at the first", id(5, 0), held(id(5, 0), id(9, 0), 3), false, false},
		{"just before the first", id(4, 7), held(id(4, 8), id(9, 0), 3), false, false},
		{"just before the first, across ms", id(4, ^uint64(0)), held(id(5, 0), id(9, 0), 3), false, false},
		{"room for a trimmed entry", id(4, 7), held(id(4, 9), id(9, 0), 3), true, false},
		{"emptied, at the last", id(9, 0), located{exists: true, last: id(9, 0)}, false, false},
		{"emptied, before the last", id(8, 0), located{exists: true, last: id(9, 0)}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lost, err := r.resume(tt.at, tt.loc)
			if lost != tt.lost || (err != nil) != tt.invalid || (err != nil && !errors.Is(err, ErrInvalidID)) {
				t.Fatalf("resume(%v) = %v, %v; want lost %v, invalid %v", tt.at, lost, err, tt.lost, tt.invalid)
			}
		})
	}
}

func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{"0-0", "1-0", "1700000000000-12", "18446744073709551615-18446744073709551615",
		"18446744073709551616-0", "1-", "-", "1-2-3", "+1-0", "007-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseStreamID(s)
		if !ok {
			return
		}
		// What parses prints in canonical form and parses back the same.
		c := id.String()
		back, ok := parseStreamID(c)
		if !ok || back != id {
			t.Fatalf("%q parsed as %v, printed %q, parsed back as %v, %v", s, id, c, back, ok)
		}
		if len(s) > maxStreamIDLen {
			t.Fatalf("accepted %d bytes", len(s))
		}
	})
}
