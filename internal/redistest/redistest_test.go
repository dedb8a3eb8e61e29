package redistest_test

import (
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
