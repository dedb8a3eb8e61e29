package authn

import (
	"net/netip"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

func TestFailedAttemptsHoldBoundedAddresses(t *testing.T) {
	t.Parallel()
	const most = 160
	l := newAttempts(config.FailedAttempts{Requests: 1, Per: config.Duration(time.Hour), Burst: 5, MaxAddresses: most})
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.fail(addr, at)
		at = at.Add(time.Millisecond)
	}
	n := 0
	for i := range l.shards {
		n += len(l.shards[i].tat)
	}
	if n > most {
		t.Errorf("the limit holds %d addresses, want at most %d", n, most)
	}
	// A full limit still counts the address that fails now.
	x := netip.MustParseAddr("192.0.2.1")
	for range 5 {
		l.fail(x, at)
	}
	if l.wait(x, at) == 0 {
		t.Error("an address that failed five times at once, on a full limit, may try again at once")
	}
}
