package keys

import (
	"strings"
	"testing"
)

func TestSafe(t *testing.T) {
	tests := []struct {
		name, in string
		kept     bool
	}{
		{"plain", "user-42", true},
		{"ip", "203.0.113.9", true},
		{"empty", "", false},
		{"colon", "a:b", false},
		{"brace", "{x}", false},
		{"space", "a b", false},
		{"glob", "a*", false},
		{"long", strings.Repeat("a", MaxSafe+1), false},
		{"hash lookalike", "h" + Hash("x"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Safe(tt.in)
			if (got == tt.in) != tt.kept {
				t.Fatalf("Safe(%q) = %q, kept=%v want %v", tt.in, got, got == tt.in, tt.kept)
			}
			if !tt.kept && (len(got) != 33 || got[0] != 'h') {
				t.Fatalf("Safe(%q) = %q, want h+32 hex", tt.in, got)
			}
		})
	}
	if Safe("a:b") == Safe("a:c") {
		t.Fatal("different inputs hashed alike")
	}
}

func TestAppendHash(t *testing.T) {
	for _, s := range []string{"", "x", "http://example.com/a?b=c", strings.Repeat("z", 300)} {
		if got := string(AppendHash([]byte("p:"), []byte(s))); got != "p:"+Hash(s) {
			t.Errorf("AppendHash(%q) = %q, want %q", s, got, "p:"+Hash(s))
		}
	}
}

func FuzzSafe(f *testing.F) {
	for _, s := range []string{"", "user-42", "a:b", "{x}", strings.Repeat("z", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Safe(s)
		if len(got) > MaxSafe || strings.ContainsAny(got, ":{}* \r\n") {
			t.Fatalf("Safe(%q) = %q is not key-safe", s, got)
		}
	})
}

func TestAppendHashString(t *testing.T) {
	for _, s := range []string{"", "user-42", "a:b", strings.Repeat("z", 100)} {
		got := string(AppendHashString([]byte("pre:"), s))
		if want := "pre:" + Hash(s); got != want {
			t.Fatalf("AppendHashString(%q) = %q, want %q", s, got, want)
		}
		if len(Hash(s)) != HashLen {
			t.Fatalf("len(Hash(%q)) = %d, want HashLen %d", s, len(Hash(s)), HashLen)
		}
	}
}
