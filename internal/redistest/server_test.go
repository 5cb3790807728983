package redistest

import (
	"context"
	"testing"
)

// TestServerBinaryMissing: without redis-server on PATH, a test that needs
// it is skipped with a message (CI sets EnvRequireServer, which fails it
// instead).
func TestServerBinaryMissing(t *testing.T) {
	t.Setenv(EnvRequireServer, "")
	t.Setenv("PATH", t.TempDir())
	var inner *testing.T
	t.Run("missing", func(t *testing.T) {
		inner = t
		ServerBinary(t)
		t.Error("ServerBinary returned without redis-server on PATH")
	})
	if !inner.Skipped() {
		t.Fatal("the test was not skipped")
	}
}

// TestServerKillRestart: a started server answers, is gone after Kill and
// answers again after Restart, on the same port.
func TestServerKillRestart(t *testing.T) {
	s := StartServer(t)
	ctx := context.Background()
	c := s.Admin()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if s.Running() || c.Ping(ctx).Err() == nil {
		t.Fatal("the server answers after Kill")
	}
	port := s.Port()
	s.Restart()
	if !s.Running() || s.Port() != port {
		t.Fatalf("running %v on port %d, want %d", s.Running(), s.Port(), port)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("k exists (%d, %v) after a restart without persistence", n, err)
	}
}
