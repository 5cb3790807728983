package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvRequireServer is the environment variable that makes tests which start
// redis-server processes of their own (StartServer, StartCluster,
// StartSentinel) fail, rather than skip, when redis-server is missing or
// does not start. .ci/run sets it to 1, so CI always runs them; a developer
// machine without redis-server skips them with a message saying so.
const EnvRequireServer = "REDISTEST_REQUIRE_SERVER"

// ServerBinary returns the path of redis-server, or skips t when there is
// none (fails it when EnvRequireServer is set).
func ServerBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(EnvRequireServer) != "" {
			t.Fatalf("redistest: %s is set but redis-server is not on PATH: %v", EnvRequireServer, err)
		}
		t.Skipf("redistest: redis-server is not on PATH; install it (Debian: apt-get install redis-server) to run this test, which starts servers of its own")
	}
	return bin
}

// Server is a redis-server process that a test started, listening on a
// free loopback port with its files in a directory of its own. It is
// killed when the test ends.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	args []string // after the defaults

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	admin  *redis.Client // Admin's, made on first use
}

// StartServer starts redis-server on a free loopback port, without
// persistence, in a new temporary directory, with args added after those
// defaults (e.g. "--replicaof", "127.0.0.1 6379"), and returns once it
// answers PING. The port's cluster bus port (+10000) is free too, so
// "--cluster-enabled yes" works. It skips or fails t as ServerBinary does.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	return startServer(t, nil, args...)
}

// StartSentinelServer starts redis-server --sentinel on a free loopback
// port with a configuration file (Sentinel needs a writable one) holding
// conf's lines after port, bind and dir, and returns once it answers PING.
func StartSentinelServer(t testing.TB, conf ...string) *Server {
	t.Helper()
	return startServer(t, conf, "--sentinel")
}

func startServer(t testing.TB, sentinelConf []string, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: ServerBinary(t), dir: t.TempDir(), args: args}
	var last error
	for range 5 { // another process may take a free port before the server does
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		s.port = port
		if sentinelConf != nil {
			conf := append([]string{"port " + strconv.Itoa(port), "bind 127.0.0.1", "dir " + s.dir}, sentinelConf...)
			if err := os.WriteFile(filepath.Join(s.dir, "sentinel.conf"), []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if last = s.start(); last == nil {
			t.Cleanup(s.stop)
			return s
		}
	}
	t.Fatalf("redistest: redis-server did not start: %v\n%s", last, s.Log())
	return nil
}

// freePort returns a loopback port that is free, and whose cluster bus
// port (+10000) is free as well.
func freePort() (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			_ = ln.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		_ = ln.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("no port with a free bus port found")
}

// start runs the process and waits until it answers PING or exits.
func (s *Server) start() error {
	var argv []string
	if s.args != nil && s.args[0] == "--sentinel" {
		argv = []string{filepath.Join(s.dir, "sentinel.conf"), "--sentinel"}
		argv = append(argv, s.args[1:]...)
	} else {
		argv = []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", s.dir}
		argv = append(argv, s.args...)
	}
	argv = append(argv, "--logfile", filepath.Join(s.dir, "redis.log"))
	cmd := exec.Command(s.bin, argv...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("no answer on %s after 10 s: %v", s.Addr(), err)
		}
		time.Sleep(10 * time.Millisecond) // an external process binding its port: nothing to wait on but the port
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Dir is the server's working directory (nodes.conf, sentinel.conf, the log).
func (s *Server) Dir() string { return s.dir }

// Client returns a new client of the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Admin returns one client of the server shared by the calls of a test
// that inspect or reconfigure it (it reconnects after a Restart), closed
// when the test ends. Its calls fail at once while the server is down.
func (s *Server) Admin() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		s.admin = redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 2 * time.Second,
			ReadTimeout: 5 * time.Second, PoolSize: 2})
		c := s.admin
		s.t.Cleanup(func() { _ = c.Close() })
	}
	return s.admin
}

// WaitReplicated returns once each of replicas has received everything s,
// their primary, had written when it was called, failing the test after
// 30 s. (WAIT does not do it for a test: it counts only the writes of the
// connection that sends it.)
func (s *Server) WaitReplicated(replicas ...*Server) {
	s.t.Helper()
	ctx := context.Background()
	role, err := s.Admin().Do(ctx, "ROLE").Slice()
	if err != nil || len(role) < 2 || role[0] != "master" {
		s.t.Fatalf("redistest: ROLE of %s: %v, %v; want a primary", s.Addr(), role, err)
	}
	offset, _ := role[1].(int64)
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range replicas {
		for {
			role, err := r.Admin().Do(ctx, "ROLE").Slice()
			// A replica's ROLE: slave, primary host, port, link state, offset received.
			if err == nil && len(role) == 5 && role[0] == "slave" && role[2] == int64(s.port) {
				if got, _ := role[4].(int64); got >= offset {
					break
				}
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("redistest: %s has not received offset %d of %s: %v, %v", r.Addr(), offset, s.Addr(), role, err)
			}
			time.Sleep(5 * time.Millisecond) // replication announces nothing to a third party
		}
	}
}

// Kill ends the server with SIGKILL, as a crash or a lost machine would:
// no shutdown, no last reply; it returns once the process has exited.
func (s *Server) Kill() {
	s.t.Helper()
	s.kill()
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Pause stops the server's process (SIGSTOP) until Resume: it keeps its
// connections but answers nothing, as a hung or overloaded server does.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		s.t.Fatalf("redistest: %s is not running", s.Addr())
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v to %s: %v", sig, s.Addr(), err)
	}
}

// Restart starts the server again after Kill, on the same port and
// directory with the same arguments (a cluster node keeps its identity in
// nodes.conf there), and returns once it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart of %s: %v\n%s", s.Addr(), err, s.Log())
	}
}

// Running reports whether the process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *Server) stop() { s.kill() }

// Log returns the tail of the server's log file, for failure messages.
func (s *Server) Log() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
