package edge_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/archway-gateway/archway/gateway/edge"
)

var trustedProxies = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

// resolveClientIP sends a request from peer with the given X-Forwarded-For lines through
// RequestID and ClientIP, and returns the client IP the State holds behind them.
func resolveClientIP(t testing.TB, trusted []netip.Prefix, peer string, xff ...string) netip.Addr {
	t.Helper()
	var got netip.Addr
	h := edge.RequestID(edge.ClientIP(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = edge.StateFrom(r.Context()).ClientIP()
	}), trusted))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = peer
	for _, line := range xff {
		req.Header.Add("X-Forwarded-For", line)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
	return got
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string
		want    string
	}{
		{"spoofed header from an untrusted peer is ignored", trustedProxies, "203.0.113.5:4000", []string{"198.51.100.7"}, "203.0.113.5"},
		{"no trusted proxies configured", nil, "10.0.0.1:4000", []string{"198.51.100.7"}, "10.0.0.1"},
		{"trusted peer without header", trustedProxies, "10.0.0.1:4000", nil, "10.0.0.1"},
		{"one trusted proxy", trustedProxies, "10.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"two trusted proxies", trustedProxies, "10.0.0.2:4000", []string{"198.51.100.7, 10.0.0.1"}, "198.51.100.7"},
		{"client's own entries left of the first untrusted one are ignored", trustedProxies, "10.0.0.2:4000", []string{"6.6.6.6, 198.51.100.7,10.0.0.1"}, "198.51.100.7"},
		{"several header lines", trustedProxies, "10.0.0.2:4000", []string{"6.6.6.6, 198.51.100.7", "10.0.0.1"}, "198.51.100.7"},
		{"every hop trusted: the leftmost", trustedProxies, "10.0.0.2:4000", []string{"10.0.0.3, 10.0.0.1"}, "10.0.0.3"},
		{"malformed entry stops at the last trusted hop", trustedProxies, "10.0.0.2:4000", []string{"198.51.100.7, garbage, 10.0.0.1"}, "10.0.0.1"},
		{"malformed rightmost entry keeps the peer", trustedProxies, "10.0.0.2:4000", []string{"198.51.100.7, unknown"}, "10.0.0.2"},
		{"empty entry is malformed", trustedProxies, "10.0.0.2:4000", []string{"198.51.100.7,,10.0.0.1"}, "10.0.0.1"},
		{"trailing comma is malformed", trustedProxies, "10.0.0.2:4000", []string{"198.51.100.7,"}, "10.0.0.2"},
		{"empty header line is malformed", trustedProxies, "10.0.0.2:4000", []string{"198.51.100.7", ""}, "10.0.0.2"},
		{"zone is malformed", trustedProxies, "10.0.0.2:4000", []string{"fe80::1%eth0"}, "10.0.0.2"},
		{"entry with a port", trustedProxies, "10.0.0.2:4000", []string{"198.51.100.7:5100"}, "198.51.100.7"},
		{"bracketed IPv6 entry with a port", trustedProxies, "10.0.0.2:4000", []string{"[2001:db8:1::7]:5100"}, "2001:db8:1::7"},
		{"bracketed IPv6 entry", trustedProxies, "10.0.0.2:4000", []string{"[2001:db8:1::7]"}, "2001:db8:1::7"},
		{"IPv6 trusted peer", trustedProxies, "[2001:db8:ffff::1]:443", []string{"2001:db8:1::7"}, "2001:db8:1::7"},
		{"IPv6 untrusted peer", trustedProxies, "[2001:db8:1::1]:443", []string{"198.51.100.7"}, "2001:db8:1::1"},
		{"IPv6 proxy chain", trustedProxies, "[2001:db8:ffff::1]:443", []string{"2001:db8:1::7, 2001:db8:ffff::2"}, "2001:db8:1::7"},
		{"mapped peer is trusted as IPv4", trustedProxies, "[::ffff:10.0.0.1]:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"mapped untrusted peer is logged as IPv4", trustedProxies, "[::ffff:203.0.113.5]:443", []string{"198.51.100.7"}, "203.0.113.5"},
		{"mapped entry is unmapped", trustedProxies, "10.0.0.1:4000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"mapped trusted entry is skipped", trustedProxies, "10.0.0.1:4000", []string{"198.51.100.7, ::ffff:10.0.0.9"}, "198.51.100.7"},
		{"spaces and tabs around entries", trustedProxies, "10.0.0.1:4000", []string{" 198.51.100.7 ,\t10.0.0.3\t"}, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := resolveClientIP(t, tc.trusted, tc.peer, tc.xff...)
			if want := netip.MustParseAddr(tc.want); got != want {
				t.Errorf("client IP = %v, want %v", got, want)
			}
		})
	}
}

// FuzzClientIP feeds arbitrary X-Forwarded-For values to ClientIP: it must not panic, must
// return an address without a zone or IPv4 mapping, and must ignore the header altogether when
// the peer is not trusted.
func FuzzClientIP(f *testing.F) {
	for _, seed := range []string{
		"", "198.51.100.7", "198.51.100.7, 10.0.0.1", "6.6.6.6,198.51.100.7 ,10.0.0.1", "10.0.0.3, 10.0.0.1",
		"garbage", ",", ",,,", "198.51.100.7,", "[2001:db8::7]:80", "[::1]", "::ffff:10.0.0.1", "fe80::1%eth0",
		"1.2.3.4:99999", "[", "]", "[]:80", "\t", "  ,  ",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, xff string) {
		got := resolveClientIP(t, trustedProxies, "10.0.0.1:4000", xff)
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Errorf("X-Forwarded-For %q: client IP %v (valid %v)", xff, got, got.IsValid())
		}
		if got := resolveClientIP(t, trustedProxies, "203.0.113.5:4000", xff); got != netip.MustParseAddr("203.0.113.5") {
			t.Errorf("X-Forwarded-For %q from an untrusted peer: client IP %v, want the peer", xff, got)
		}
	})
}
