package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/archway-gateway/archway/internal/testenv"
)

// RequireEnv is the environment variable that, set to "1", turns a missing redis-server from
// a skipped test into a failed one.
const RequireEnv = "ARCHWAY_TEST_REQUIRE_REDIS"

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
)

// Server is a running redis-server. Its methods may be called from several goroutines.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	cancel context.CancelFunc
	output *bytes.Buffer
}

// Start runs redis-server from PATH on a free port of 127.0.0.1, waits until it answers PING,
// and stops it when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := testenv.Program(tb, "redistest", "redis-server", RequireEnv)
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	// Another process may take the free port between picking and binding it: try a few.
	const attempts = 3
	for i := range attempts {
		var err error
		s.addr, err = freeAddr()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		if err = s.start(); err == nil {
			break
		}
		if i == attempts-1 {
			tb.Fatalf("redistest: %v", err)
		}
	}
	tb.Cleanup(s.Stop)
	return s
}

// Addr returns the server's address, as host:port.
func (s *Server) Addr() string { return s.addr }

// Stop stops the server and waits until it has exited. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart starts the server again on the same port, after [Server.Stop], and waits until it
// answers PING. Its data is gone: the server keeps none on disk.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	if err := s.startLocked(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked()
}

func (s *Server) startLocked() error {
	_, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, s.bin,
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	s.cmd, s.cancel, s.output = cmd, cancel, out
	if err := waitPing(s.addr, startTimeout); err != nil {
		s.stopLocked()
		return fmt.Errorf("redis-server on %s did not answer PING: %w; its output:\n%s", s.addr, err, out)
	}
	return nil
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	s.cancel()
	// The server exits with a status of its own choosing on SIGTERM; only an exit that had
	// to be forced is a problem worth reporting.
	if err := s.cmd.Wait(); errors.Is(err, exec.ErrWaitDelay) {
		s.tb.Logf("redistest: redis-server on %s had to be killed", s.addr)
	}
	s.cmd, s.cancel = nil, nil
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

// waitPing polls addr with PING until it answers PONG or timeout passes.
func waitPing(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := Ping(addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ping sends PING to the Redis server at addr and checks that it answers PONG.
func Ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %s", strconv.Quote(line))
	}
	return nil
}
