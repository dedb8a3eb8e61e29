package redistest_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/archway-gateway/archway/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStopRestart(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	if err := redistest.Ping(s.Addr()); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	s.Stop()
	if err := redistest.Ping(s.Addr()); err == nil {
		t.Fatal("after Stop: PING answered")
	}
	s.Stop()
	s.Restart()
	if err := redistest.Ping(s.Addr()); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}

func TestServersAreSeparate(t *testing.T) {
	t.Parallel()
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	a.Stop()
	if err := redistest.Ping(b.Addr()); err != nil {
		t.Fatalf("stopping one server stopped the other: %v", err)
	}
}

// stopper stands in for a test, recording how Start stopped it.
type stopper struct {
	testing.TB
	how string
}

func (s *stopper) Helper() {}

func (s *stopper) Skipf(format string, args ...any) {
	s.how = "skip: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (s *stopper) Fatalf(format string, args ...any) {
	s.how = "fatal: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		require string
		want    string
	}{
		{"", "skip: redistest: redis-server is not installed"},
		{"0", "skip: redistest: redis-server is not installed"},
		{"1", "fatal: redistest: redis-server is not installed, and ARCHWAY_TEST_REQUIRE_REDIS=1 requires it"},
	} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(redistest.RequireEnv, tc.require)
			s := &stopper{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				redistest.Start(s)
				s.how = "started"
			}()
			<-done
			if !strings.HasPrefix(s.how, tc.want) {
				t.Errorf("Start %s, want %s", s.how, tc.want)
			}
		})
	}
}
