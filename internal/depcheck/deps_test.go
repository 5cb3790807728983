package depcheck

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// allowed are the module paths library packages may depend on, beside the
// standard library and this module.
var allowed = []string{
	"github.com/redis/go-redis/v9",
	"github.com/gorilla/securecookie",
	"golang.org/x/sync",
	"github.com/hashicorp/golang-lru/v2", // one LRU for the deny cache and the aside local tier
	// Structured Fields (RFC 8941/9651) for cachehandler's targeted cache
	// control (RFC 9213): its error handling differs from Cache-Control's,
	// so a well-kept parser instead of a hand-written one; no dependencies.
	"github.com/dunglas/httpsfv",
	// go-redis' own dependencies.
	"github.com/cespare/xxhash/v2",
	"github.com/dgryski/go-rendezvous",
	"go.uber.org/atomic",
}

// TestLibraryDependencies fails when a library package (anything but
// examples/ and tests) depends, even indirectly, on chi, miniredis or any
// module not in allowed.
func TestLibraryDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps,Module,Standard", "github.com/redisware/redisware/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Deps       []string
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.ImportPath, "/examples/") || strings.HasSuffix(p.ImportPath, "/internal/redistest") {
			continue // examples and the test harness may use chi and miniredis
		}
		checked++
		for _, d := range p.Deps {
			if bad := disallowed(d); bad {
				t.Errorf("%s depends on %s", p.ImportPath, d)
			}
		}
	}
	if checked < 3 {
		t.Fatalf("checked only %d packages: the listing is wrong", checked)
	}
}

func disallowed(dep string) bool {
	first, _, _ := strings.Cut(dep, "/")
	if !strings.Contains(first, ".") || strings.HasPrefix(dep, "github.com/redisware/redisware") {
		return false // standard library or this module
	}
	if strings.HasPrefix(dep, "golang.org/x/sys") {
		return false // x/sync's and the runtime's own dependency
	}
	for _, a := range allowed {
		if dep == a || strings.HasPrefix(dep, a+"/") {
			return false
		}
	}
	return true
}

func TestDisallowed(t *testing.T) {
	for dep, want := range map[string]bool{
		"net/http": false,
		"github.com/redis/go-redis/v9/internal/util": false,
		"github.com/redisware/redisware/middleware":  false,
		"github.com/go-chi/chi/v5":                   true,
		"github.com/alicebob/miniredis/v2":           true,
		"github.com/yuin/gopher-lua":                 true,
	} {
		if got := disallowed(dep); got != want {
			t.Errorf("disallowed(%q) = %v, want %v", dep, got, want)
		}
	}
}
