package faulttest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// server is a redis-server this test started, on a loopback port of its
// own, with no persistence.
type server struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

// redisServer returns the redis-server binary. With FAULTS unset the
// suite is skipped (it is slow; `make faults` runs it); with FAULTS set, a
// missing redis-server fails the test.
func redisServer(t *testing.T) string {
	t.Helper()
	if os.Getenv("FAULTS") == "" {
		t.Skip("the fault suite runs with FAULTS=1 (make faults); it needs redis-server on PATH")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("FAULTS is set but redis-server is not on PATH: %v", err)
	}
	return bin
}

// startServer starts redis-server on a free loopback port and returns once
// it accepts connections.
func startServer(t *testing.T, bin string) *server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &server{t: t, bin: bin, dir: t.TempDir(), port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// start runs the server and waits until it accepts a connection; it
// returns that moment.
func (s *server) start() time.Time {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", "")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			at := time.Now()
			c.Close()
			return at
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not accept connections within 10 s: %v", s.addr(), err)
		}
		time.Sleep(time.Millisecond) // an external process starting: nothing to observe but its port
	}
}

func (s *server) signal(sig syscall.Signal) time.Time {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
	return time.Now()
}

// kill ends the server at once and reaps it.
func (s *server) kill() time.Time {
	at := s.signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
	return at
}

func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
