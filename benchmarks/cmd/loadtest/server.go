package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redisware/redisware/benchmarks/scenario"
)

// server is one rwserver process serving one cell.
type server struct {
	cmd   *exec.Cmd
	url   string // http://host:port
	pprof string // http://host:port, or ""
	done  chan error
	http  *http.Client
}

// startServer starts bin for scenario s, implementation impl, with the key
// prefix, and waits until it listens. Its stderr goes to logPath.
func startServer(ctx context.Context, bin, redisURL string, s scenario.Scenario, impl, prefix, logPath string, withPprof bool) (*server, error) {
	args := []string{"-scenario", s.Name, "-impl", impl, "-prefix", prefix, "-redis", redisURL}
	if withPprof {
		args = append(args, "-pprof", "127.0.0.1:0")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	sv := &server{cmd: cmd, done: make(chan error, 1), http: &http.Client{Timeout: 30 * time.Second}}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		sv.done <- cmd.Wait()
		logf.Close()
	}()
	timeout := time.After(30 * time.Second)
	for sv.url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				err := <-sv.done
				return nil, fmt.Errorf("rwserver %s/%s exited before listening (%v); see %s", s.Name, impl, err, logPath)
			}
			if rest, ok := strings.CutPrefix(line, "pprof "); ok {
				sv.pprof = rest
			}
			if rest, ok := strings.CutPrefix(line, "listening "); ok {
				sv.url = rest
			}
		case <-timeout:
			sv.kill()
			return nil, fmt.Errorf("rwserver %s/%s did not listen within 30 s; see %s", s.Name, impl, logPath)
		case <-ctx.Done():
			sv.kill()
			return nil, ctx.Err()
		}
	}
	go func() {
		for range lines { // drain
		}
	}()
	return sv, nil
}

// stats reads the server's counters.
func (sv *server) stats(ctx context.Context) (scenario.Stats, error) {
	var st scenario.Stats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sv.url+"/__bench/stats", nil)
	res, err := sv.http.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return st, fmt.Errorf("stats: status %d", res.StatusCode)
	}
	return st, json.NewDecoder(res.Body).Decode(&st)
}

// quiesce waits until the server serves no measured request, for up to
// 10 s: a bound for a wedged server, not a speed assumption.
func (sv *server) quiesce(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := sv.stats(ctx)
		if err != nil {
			return err
		}
		if st.InFlight == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d requests still in flight 10 s after wrk ended", st.InFlight)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seed creates a session holding n and returns its cookie as a Cookie
// header value (name=value).
func (sv *server) seed(ctx context.Context, n int64) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sv.url+"/__bench/seed?n="+strconv.FormatInt(n, 10), nil)
	res, err := sv.http.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	cs := res.Cookies()
	if res.StatusCode != http.StatusOK || len(cs) == 0 {
		return "", fmt.Errorf("seed: status %d, %d cookies", res.StatusCode, len(cs))
	}
	return cs[0].Name + "=" + cs[0].Value, nil
}

// value reads the counter of the session cookie names.
func (sv *server) value(ctx context.Context, cookie string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sv.url+"/__bench/value", nil)
	req.Header.Set("Cookie", cookie)
	res, err := sv.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("value: status %d: %s", res.StatusCode, b)
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// get sends one GET / with header h (may be nil) and returns its status.
func (sv *server) get(ctx context.Context, h http.Header) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sv.url+"/", nil)
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := sv.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// fetch saves what the pprof endpoint path answers to file.
func (sv *server) fetch(ctx context.Context, path, file string) error {
	if sv.pprof == "" {
		return errors.New("pprof is not enabled")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sv.pprof+path, nil)
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("%s: status %d: %s", path, res.StatusCode, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stop asks the server to shut down and waits for it (killing it after
// 10 s); it returns the exit error, if any.
func (sv *server) stop() error {
	sv.http.CloseIdleConnections()
	_ = sv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-sv.done:
		return err
	case <-time.After(10 * time.Second):
		sv.kill()
		return errors.New("rwserver did not stop within 10 s; killed")
	}
}

func (sv *server) kill() {
	_ = sv.cmd.Process.Kill()
	<-sv.done
}
