package session

import (
	"encoding/json"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// fastInputs are raw values for decodeFast: the forms it takes and the
// near misses it must leave to encoding/json.
var fastInputs = []string{
	"0", "-0", "7", "-42", "1234567890", "9223372036854775807", "-9223372036854775808",
	"9223372036854775808", "01", "+1", " 1", "1 ", "1.0", "1e3", "-", "", "null", "0x10",
	`""`, `"a"`, `"héllo"`, `"a\"b"`, `"a\\b"`, `"\u00e9"`, "\"tab\there\"", "\"\xff\"", `"`, `"a`, `a"`,
	`"` + "\x7f" + `"`, `"` + "\uFFFD" + `"`,
	"true", "false", "True", "tru", "true ", `"true"`,
}

// checkFast fails when decodeFast decodes raw into a T and json.Unmarshal
// would not give the same value.
func checkFast[T comparable](t *testing.T, raw string) {
	t.Helper()
	var fast T
	if !decodeFast(raw, &fast) {
		return
	}
	var want T
	if err := json.Unmarshal([]byte(raw), &want); err != nil {
		t.Fatalf("decodeFast(%q) into %T = %v, json.Unmarshal fails: %v", raw, fast, fast, err)
	}
	if fast != want {
		t.Fatalf("decodeFast(%q) into %T = %v, json.Unmarshal gives %v", raw, fast, fast, want)
	}
}

func TestDecodeFast(t *testing.T) {
	for _, raw := range fastInputs {
		checkFast[int](t, raw)
		checkFast[int64](t, raw)
		checkFast[string](t, raw)
		checkFast[bool](t, raw)
	}
	// And it does take the plain forms.
	for _, tc := range []struct {
		raw string
		p   any
	}{{"-42", new(int)}, {"7", new(int64)}, {`"héllo"`, new(string)}, {"false", new(bool)}} {
		if !decodeFast(tc.raw, tc.p) {
			t.Errorf("decodeFast(%q) into %T left it to encoding/json", tc.raw, tc.p)
		}
	}
	for _, tc := range []struct {
		raw string
		p   any
	}{{"1.5", new(float64)}, {`{"a":1}`, new(map[string]int)}, {"01", new(int)}, {`"a\nb"`, new(string)}} {
		if decodeFast(tc.raw, tc.p) {
			t.Errorf("decodeFast(%q) into %T decoded it", tc.raw, tc.p)
		}
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, raw := range fastInputs {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkFast[int](t, raw)
		checkFast[int64](t, raw)
		checkFast[string](t, raw)
		checkFast[bool](t, raw)
	})
}

// TestGetAllocations holds Get of an int and of a string to no allocation.
func TestGetAllocations(t *testing.T) {
	if testing.Short() || redistest.RaceEnabled {
		t.Skip("allocation counts need a normal build (no -short, no -race)")
	}
	s := newSession(nil)
	s.values["n"], s.values["s"] = "42", `"name"`
	if n := testing.AllocsPerRun(100, func() {
		if v, ok, err := Get[int](s, "n"); v != 42 || !ok || err != nil {
			t.Fatalf("Get = %v, %v, %v", v, ok, err)
		}
		if v, ok, err := Get[string](s, "s"); v != "name" || !ok || err != nil {
			t.Fatalf("Get = %v, %v, %v", v, ok, err)
		}
	}); n != 0 {
		t.Errorf("%.1f allocations per Get of an int and a string", n)
	}
}
