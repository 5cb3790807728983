package pubsub

import (
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
		})
	}
	if (streamID{1, 9}).compare(streamID{2, 0}) != -1 {
		t.Fatal("ms must order before seq")
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
