package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestDemoInChromium builds the demo, starts it on a random loopback port
// (on REDIS_URL when it is set, the embedded store otherwise) and clicks
// through the page in headless Chromium as a visitor would: log in, reload,
// hit the rate limit, load the slow page twice, use cache-aside, publish
// and receive a live event, read the metrics, log out. A failed step saves a screenshot and
// names its path.
func TestDemoInChromium(t *testing.T) {
	demo := startDemo(t)
	b := startBrowser(t, demo)

	b.do("open the page", chromedp.Navigate(demo.url), chromedp.WaitVisible(chromedp.ID("events-panel")))
	b.waitText("feed-status", "live")
	b.waitText("health-status", "ok")
	b.waitJS("the session panel loaded", `document.getElementById("session-visits").textContent !== "…"`)

	// Log in: the user shows, and the session ID changes.
	before := b.text("session-id")
	b.do("type a user name", chromedp.SetValue(chromedp.ID("login-user"), "ada"))
	b.do("click Log in", chromedp.Click(chromedp.ID("login-btn")))
	b.waitText("session-user", "ada")
	b.waitJS("the rotation is shown", `document.getElementById("session-rotation").textContent.includes("renewed by Login")`)
	after := b.text("session-id")
	if after == before || after == "(none)" || after == "" {
		b.fail("session ID rotation", fmt.Errorf("session ID %q before Login, %q after", before, after))
	}
	visits := b.number("session-visits")

	// A message on the live feed, to find again after the reload.
	kept := "before the reload " + strconv.FormatInt(time.Now().UnixNano(), 36)
	b.do("type a message", chromedp.SetValue(chromedp.ID("publish-text"), kept))
	b.do("click Publish", chromedp.Click(chromedp.ID("publish-btn")))
	b.waitJS("the message on the feed", fmt.Sprintf(`document.getElementById("feed").textContent.includes(%s)`, strconv.Quote(kept)))

	// Reload: still logged in, and the counter went on.
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("events-panel")))
	b.waitText("session-user", "ada")
	b.waitJS("the visit counter grew across the reload",
		fmt.Sprintf(`Number(document.getElementById("session-visits").textContent) > %d`, visits))
	if got := b.text("session-id"); got != after {
		b.fail("session across the reload", fmt.Errorf("session ID %q after the reload, want %q", got, after))
	}
	b.waitText("feed-status", "live")
	// The feed is a Redis stream: the reloaded page gets the last events,
	// the message published before the reload among them.
	b.waitJS("the message on the feed after the reload", fmt.Sprintf(`document.getElementById("feed").textContent.includes(%s)`, strconv.Quote(kept)))

	// Rate limit: 5 per 10 s, so the 429 comes within a few more clicks.
	allowed := 0
	limited := false
	for i := 1; i <= 12 && !limited; i++ {
		b.do("click ping", chromedp.Click(chromedp.ID("ping-btn")))
		b.waitJS("ping answered", fmt.Sprintf(`document.getElementById("ping-count").textContent === "%d"`, i))
		switch status := b.text("ping-status"); {
		case strings.HasPrefix(status, "429"):
			limited = true
		case strings.HasPrefix(status, "200"):
			allowed++
		default:
			b.fail("rate limit", fmt.Errorf("ping %d answered %q", i, status))
		}
	}
	if !limited || allowed < 5 {
		b.fail("rate limit", fmt.Errorf("%d pings allowed, 429 seen: %v; want at least 5 allowed, then a 429", allowed, limited))
	}
	if retry := b.text("ping-retry"); retry == "–" {
		b.fail("rate limit", errors.New("the 429 shows no Retry-After"))
	}
	if rl := b.text("ping-ratelimit"); !strings.Contains(rl, "r=0") {
		b.fail("rate limit", fmt.Errorf("the 429's RateLimit header is %q, want r=0", rl))
	}

	// Response cache: the second load is a hit.
	b.do("click Load twice", chromedp.Click(chromedp.ID("cache-btn")))
	b.waitJS("both loads done", `document.getElementById("cache-row-2") !== null`)
	if cs := b.eval(`document.querySelector("#cache-row-2 td:nth-child(3)").textContent`); !strings.Contains(cs, "hit") {
		b.fail("cache hit", fmt.Errorf("second load's Cache-Status is %q, want a hit", cs))
	}
	b.waitJS("time saved shown", `document.getElementById("cache-saved").textContent.includes("saved")`)

	// Cache-aside: fetched once, then served without the fetch.
	b.do("choose item 7", chromedp.SetValue(chromedp.ID("aside-id"), "7"))
	// Evicted first: on a real Redis an earlier run's item 7 may still be
	// cached (for a minute), and the first Get would not fetch.
	b.do("click Evict", chromedp.Click(chromedp.ID("aside-evict")))
	b.waitJS("item 7 evicted", `document.getElementById("aside-source").textContent.includes("evicted")`)
	b.do("click Get", chromedp.Click(chromedp.ID("aside-get")))
	b.waitJS("item 7 fetched", `document.getElementById("aside-source").textContent.includes("fetched")`)
	b.do("click Get again", chromedp.Click(chromedp.ID("aside-get")))
	b.waitJS("item 7 from the local tier", `document.getElementById("aside-source").textContent.includes("local tier")`)

	// Live events: the actions since the reload were announced, and a
	// published message comes back.
	b.waitJS("the 429 on the feed", `document.getElementById("feed").textContent.includes("GET /ratelimit/ping → 429")`)
	msg := "hello from chromium " + strconv.FormatInt(time.Now().UnixNano(), 36)
	b.do("type a message", chromedp.SetValue(chromedp.ID("publish-text"), msg))
	b.do("click Publish", chromedp.Click(chromedp.ID("publish-btn")))
	b.waitJS("the message on the feed", fmt.Sprintf(`document.getElementById("feed").textContent.includes(%s)`, strconv.Quote(msg)))

	// Metrics: /metrics shows the library's counts of what was clicked.
	b.do("click GET /metrics", chromedp.Click(chromedp.ID("metrics-btn")))
	b.waitJS("metrics shown", `document.getElementById("metrics-status").textContent.includes("redisware lines")`)
	if m := b.text("metrics-exchange"); !strings.Contains(m, `redisware_ratelimit_decisions_total{`) ||
		!strings.Contains(m, `outcome="hit"`) || !strings.Contains(m, `redisware_session_loads_total{`) {
		b.fail("metrics", fmt.Errorf("the metrics panel shows no rate limit decisions, cache hit or session loads:\n%s", m))
	}

	// Log out: the user is gone and the session with it.
	b.do("click Log out", chromedp.Click(chromedp.ID("logout-btn")))
	b.waitText("session-user", "not logged in")
	b.waitJS("the logout rotation is shown", `document.getElementById("session-rotation").textContent.includes("deleted")`)
	if got := b.text("session-id"); got == after {
		b.fail("log out", fmt.Errorf("session ID %q is still the logged-in one", got))
	}

	b.checkNoExceptions()
}

// demoProcess is the demo binary running for one test.
type demoProcess struct {
	url string
	mu  sync.Mutex
	log bytes.Buffer
}

func (d *demoProcess) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

var readyLine = regexp.MustCompile(`demo ready: open (http://\S+)`)

// startDemo builds the demo from this repository and runs it on a random
// loopback port until the test ends, when it must exit 0 on SIGINT.
func startDemo(t *testing.T) *demoProcess {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if mod, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.HasPrefix(mod, []byte("module github.com/redisware/redisware\n")) {
		t.Fatalf("%s is not the redisware repository (go.mod: %v)", root, err)
	}
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-race", "-o", bin, ".") // a data race fails the exit check
	build.Dir = filepath.Join(root, "examples", "demo")           // a module of its own
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &demoProcess{}
	ready := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			d.mu.Lock()
			d.log.WriteString(lines.Text() + "\n")
			d.mu.Unlock()
			if m := readyLine.FindStringSubmatch(lines.Text()); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-done // all output read before Wait closes the pipe
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the demo ended with %v on SIGINT, want exit status 0\n%s", err, d.output())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("the demo did not end within 15 s of SIGINT\n%s", d.output())
		}
	})
	select {
	case d.url = <-ready:
	case err := <-exited:
		t.Fatalf("the demo exited before it was ready: %v\n%s", err, d.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo printed no URL within 60 s\n%s", d.output())
	}
	t.Logf("demo at %s", d.url)
	return d
}

// browser is one headless Chromium tab on the demo.
type browser struct {
	t    *testing.T
	ctx  context.Context
	demo *demoProcess

	mu         sync.Mutex
	exceptions []string
}

// chromiumPath finds the browser: $CHROMIUM, else the Debian package's
// chromium, else other usual names.
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium), and $CHROMIUM is unset")
}

// startBrowser starts headless Chromium with a fresh profile. It fails the
// test, never skips it, when the browser cannot start.
func startBrowser(t *testing.T, demo *demoProcess) *browser {
	t.Helper()
	path, err := chromiumPath()
	if err != nil {
		t.Fatalf("the browser cannot start: %v", err)
	}
	profile, err := os.MkdirTemp("", "redisware-e2e-profile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helpers may write into the profile briefly after it
		// stops; a profile left in the temp directory harms nothing.
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1600),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, demo: demo}
	// Listen starts the browser; its error is the browser's failure to start.
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			b.mu.Lock()
			b.exceptions = append(b.exceptions, (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("the browser cannot start (%s): %v", path, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("the browser cannot start (%s): %v", path, err)
	}
	return b
}

// stepTimeout bounds each step; the slow page and a loaded machine fit in it.
const stepTimeout = 30 * time.Second

// do runs actions as one step, failing the test with a screenshot.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// waitJS waits until the JavaScript expression is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(stepTimeout), chromedp.WithPollingInterval(50*time.Millisecond)))
}

// waitText waits until the element's text is want.
func (b *browser) waitText(id, want string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("#%s reads %q", id, want),
		fmt.Sprintf(`(document.getElementById(%s) || {}).textContent === %s`, strconv.Quote(id), strconv.Quote(want)))
}

// eval returns the string value of a JavaScript expression.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}

func (b *browser) text(id string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`document.getElementById(%s).textContent`, strconv.Quote(id)))
}

func (b *browser) number(id string) int {
	b.t.Helper()
	s := b.text(id)
	n, err := strconv.Atoi(s)
	if err != nil {
		b.fail("read #"+id, fmt.Errorf("%q is not a number", s))
	}
	return n
}

// checkNoExceptions fails the test if the page threw.
func (b *browser) checkNoExceptions() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		b.fail("the page's JavaScript", fmt.Errorf("uncaught exceptions:\n%s", strings.Join(b.exceptions, "\n")))
	}
}

// fail saves a screenshot of the page and ends the test with its path.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	shot := "(no screenshot)"
	if f, ferr := os.CreateTemp(dir, "redisware-e2e-*.png"); ferr == nil {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if serr == nil {
			_, serr = f.Write(png)
		}
		_ = f.Close()
		if serr != nil {
			shot = fmt.Sprintf("(screenshot failed: %v)", serr)
		} else {
			shot = f.Name()
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: screenshot of the failure: %s\n", shot)
	b.t.Fatalf("%s: %v\nscreenshot: %s\ndemo log:\n%s", what, err, shot, b.demo.output())
}
