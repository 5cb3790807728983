package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/pubsub"
)

// readmeMarker is the line in the README right above the fenced block that
// shows this file. The block between the next "```go" line and its closing
// "```" line must equal main.go byte for byte: the whole file, package
// clause to last brace, so a reader can paste it and run it.
const readmeMarker = "<!-- quickstart: examples/quickstart/main.go, byte for byte (a test checks it) -->"

// readmeBlock returns the fenced Go block that follows readmeMarker in readme.
func readmeBlock(readme []byte) ([]byte, error) {
	_, after, ok := bytes.Cut(readme, []byte(readmeMarker+"\n"))
	if !ok {
		return nil, fmt.Errorf("no line %q", readmeMarker)
	}
	body, ok := bytes.CutPrefix(after, []byte("```go\n"))
	if !ok {
		return nil, fmt.Errorf("the line after the marker is not ```go")
	}
	end := bytes.Index(body, []byte("\n```\n"))
	if end < 0 {
		return nil, fmt.Errorf("the ```go block after the marker is not closed")
	}
	return body[:end+1], nil
}

// firstDifference describes where got and want part, or returns "".
func firstDifference(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if i >= len(g) || i >= len(w) || gl != wl {
			return fmt.Sprintf("line %d: README has %q, main.go has %q", i+1, gl, wl)
		}
	}
	return "they differ" // not reached: equal line lists are equal bytes
}

func TestREADMEShowsThisFile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(src, []byte("\n")); n >= 60 {
		t.Errorf("main.go has %d lines; the quickstart stays under 60", n)
	}
	block, err := readmeBlock(readme)
	if err != nil {
		t.Fatalf("README: %v", err)
	}
	if d := firstDifference(block, src); d != "" {
		t.Fatalf("README's quickstart block is not examples/quickstart/main.go: %s", d)
	}
}

// TestReadmeBlockCheck shows the check above can fail, and how.
func TestReadmeBlockCheck(t *testing.T) {
	src := []byte("package main\n\nfunc main() {}\n")
	wrap := func(block string) []byte {
		return []byte("# title\n\n" + readmeMarker + "\n```go\n" + block + "```\n\nmore\n")
	}
	for _, tc := range []struct {
		name, readme string
		wantErr      bool
		wantDiff     string
	}{
		{name: "same", readme: string(wrap(string(src)))},
		{name: "no marker", readme: "```go\n" + string(src) + "```\n", wantErr: true},
		{name: "not go", readme: readmeMarker + "\n```sh\n" + string(src) + "```\n", wantErr: true},
		{name: "unclosed", readme: readmeMarker + "\n```go\n" + string(src), wantErr: true},
		{name: "edited line", readme: string(wrap("package main\n\nfunc main() { }\n")), wantDiff: `line 3: README has "func main() { }", main.go has "func main() {}"`},
		{name: "missing last line", readme: string(wrap("package main\n\n")), wantDiff: `line 3: README has "", main.go has "func main() {}"`},
		{name: "extra line", readme: string(wrap(string(src) + "// more\n")), wantDiff: `line 4: README has "// more", main.go has ""`},
		{name: "trailing space", readme: string(wrap("package main \n\nfunc main() {}\n")), wantDiff: `line 1: README has "package main ", main.go has "package main"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			block, err := readmeBlock([]byte(tc.readme))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := firstDifference(block, src); got != tc.wantDiff {
				t.Fatalf("difference %q, want %q", got, tc.wantDiff)
			}
		})
	}
}

// TestQuickstart runs the program's handler on the test backend: the cached
// page, the login limit and the session cookie, the event stream, health.
func TestQuickstart(t *testing.T) {
	rdb, prefix := redistest.New(t)
	app, err := newApp(rdb, bytes.Repeat([]byte("k"), 32), prefix)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	var bodies []string
	for i, want := range []string{"redisware; fwd=uri-miss; stored", "redisware; hit"} {
		res, body := get(t, c, srv.URL+"/products/42")
		if got := res.Header.Get("Cache-Status"); !strings.HasPrefix(got, want) {
			t.Fatalf("request %d: Cache-Status %q, want %q", i+1, got, want)
		}
		bodies = append(bodies, body)
	}
	if bodies[0] != bodies[1] || !strings.HasPrefix(bodies[0], "product 42, rendered at ") {
		t.Fatalf("the hit is not the stored page: %q then %q", bodies[0], bodies[1])
	}

	for i := 1; i <= 6; i++ {
		res, err := c.PostForm(srv.URL+"/login", url.Values{"user": {"ada"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := http.StatusOK
		if i == 6 {
			want = http.StatusTooManyRequests
		}
		if res.StatusCode != want {
			t.Fatalf("login %d: %d, want %d", i, res.StatusCode, want)
		}
	}
	u, _ := url.Parse(srv.URL)
	if cs := jar.Cookies(u); len(cs) != 1 || cs[0].Name != "session" {
		t.Fatalf("cookies after login over plain http: %v, want the session cookie", cs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", res.StatusCode)
	}
	// The header arrives once the subscription is confirmed: publish now.
	if err := pubsub.Publish(ctx, rdb, prefix+"orders", map[string]int{"id": 7}); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(res.Body)
	for lines.Scan() {
		if lines.Text() == `data: {"id":7}` {
			break
		}
	}
	if lines.Err() != nil || lines.Text() != `data: {"id":7}` {
		t.Fatalf("events: no message (last line %q, err %v)", lines.Text(), lines.Err())
	}

	if res, body := get(t, c, srv.URL+"/healthz"); res.StatusCode != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("healthz: %d %q", res.StatusCode, body)
	}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(res.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return res, b.String()
}
