package ipfilter_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/ipfilter"
	"github.com/archway-gateway/archway/gateway/policy"
)

// testConfig has global lists and three classes.
var testConfig = config.IPFilter{
	Deny: []string{"203.0.113.0/24", "2001:db8:bad::/48", "::ffff:192.0.2.66"},
	Classes: map[string]config.IPFilterClass{
		"office":   {Allow: []string{"198.51.100.0/24", "2001:db8:1::/48", "10.1.2.3"}},
		"partners": {Allow: []string{"198.51.100.0/24"}, Deny: []string{"198.51.100.128/25"}},
		"blocked":  {Deny: []string{"0.0.0.0/0", "::/0"}},
	},
}

func newFilter(t testing.TB, cfg config.IPFilter, opts ...ipfilter.Option) *ipfilter.Filter {
	t.Helper()
	f, err := ipfilter.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	f := newFilter(t, testConfig)
	allowOnly := newFilter(t, config.IPFilter{Allow: []string{"10.0.0.0/8", "2001:db8::/32"}, Deny: []string{"10.9.0.0/16"}})
	for _, tc := range []struct {
		name   string
		filter *ipfilter.Filter
		class  string
		ip     string
		want   bool
	}{
		{"global: not denied", f, "", "192.0.2.1", true},
		{"global deny", f, "", "203.0.113.9", false},
		{"global deny IPv6", f, "", "2001:db8:bad::1", false},
		{"global deny, mapped address", f, "", "::ffff:203.0.113.9", false},
		{"global deny of a mapped entry matches IPv4", f, "", "192.0.2.66", false},
		{"global deny of a mapped entry, neighbour", f, "", "192.0.2.67", true},
		{"global deny applies to classes too", f, "blocked", "203.0.113.9", false},
		{"IPv6 outside the deny list", f, "", "2001:db8:beef::1", true},
		{"allow-only: inside", allowOnly, "", "10.200.0.1", true},
		{"allow-only: IPv6 inside", allowOnly, "", "2001:db8:5::1", true},
		{"allow-only: mapped inside", allowOnly, "", "::ffff:10.200.0.1", true},
		{"allow-only: outside", allowOnly, "", "192.0.2.1", false},
		{"allow-only: IPv6 outside", allowOnly, "", "2001:db9::1", false},
		{"allow-only: deny wins", allowOnly, "", "10.9.1.1", false},
		{"allow-only: unknown address", allowOnly, "", "", false},
		{"deny-only: unknown address passes", f, "", "", true},
		{"class allow: inside", f, "office", "198.51.100.7", true},
		{"class allow: single address", f, "office", "10.1.2.3", true},
		{"class allow: single address neighbour", f, "office", "10.1.2.4", false},
		{"class allow: IPv6 inside", f, "office", "2001:db8:1:2::1", true},
		{"class allow: outside", f, "office", "192.0.2.1", false},
		{"class deny wins over class allow", f, "partners", "198.51.100.200", false},
		{"class allow next to its deny", f, "partners", "198.51.100.100", true},
		{"class deny everything", f, "blocked", "192.0.2.1", false},
		{"class deny everything IPv6", f, "blocked", "2001:db8:1::1", false},
		{"unknown class allows nothing", f, "nope", "192.0.2.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ip netip.Addr
			if tc.ip != "" {
				ip = netip.MustParseAddr(tc.ip)
			}
			if got := tc.filter.Allowed(tc.class, ip); got != tc.want {
				t.Errorf("Allowed(%q, %v) = %v, want %v", tc.class, ip, got, tc.want)
			}
		})
	}
}

// serve sends a request from peer through the chain's state, an optional route policy and
// the middleware; it returns the answer and whether the request got through.
func serve(t testing.TB, mw func(http.Handler) http.Handler, peer string, p *policy.Policy) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	var passed bool
	h := edge.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p != nil {
			r = r.WithContext(policy.NewContext(r.Context(), p))
		}
		mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true })).ServeHTTP(w, r)
	}))
	req := httptest.NewRequest(http.MethodGet, "/v1/users", nil)
	req.RemoteAddr = peer
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, passed
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	f := newFilter(t, testConfig, ipfilter.WithRegisterer(reg))
	for _, tc := range []struct {
		name   string
		mw     func(http.Handler) http.Handler
		peer   string
		policy *policy.Policy
		passed bool
	}{
		{"global passes", f.GlobalMiddleware, "192.0.2.1:4000", nil, true},
		{"global denies", f.GlobalMiddleware, "203.0.113.9:4000", nil, false},
		{"global denies IPv6", f.GlobalMiddleware, "[2001:db8:bad::1]:4000", nil, false},
		{"global denies mapped peer", f.GlobalMiddleware, "[::ffff:203.0.113.9]:4000", nil, false},
		{"route without policy passes", f.Middleware, "192.0.2.1:4000", nil, true},
		{"route without class passes", f.Middleware, "192.0.2.1:4000", &policy.Policy{Method: "/a.B/C"}, true},
		{"route class allows", f.Middleware, "198.51.100.7:4000", &policy.Policy{IPFilterClass: "office"}, true},
		{"route class denies", f.Middleware, "192.0.2.1:4000", &policy.Policy{IPFilterClass: "office"}, false},
		{"route class deny wins", f.Middleware, "198.51.100.200:4000", &policy.Policy{IPFilterClass: "partners"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, passed := serve(t, tc.mw, tc.peer, tc.policy)
			if passed != tc.passed {
				t.Fatalf("passed = %v, want %v (status %d)", passed, tc.passed, rec.Code)
			}
			if passed {
				return
			}
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
				t.Fatal(err)
			}
			if rec.Code != http.StatusForbidden || codes.Code(st.Code) != codes.PermissionDenied || st.Message != "your address is not allowed to call this API" {
				t.Errorf("answer %d %s, want 403 PERMISSION_DENIED", rec.Code, rec.Body.String())
			}
		})
	}
	t.Cleanup(func() {
		want := `
# HELP archway_ipfilter_denied_total Requests refused by IP filtering, by class ("global" for the global lists).
# TYPE archway_ipfilter_denied_total counter
archway_ipfilter_denied_total{class="blocked"} 0
archway_ipfilter_denied_total{class="global"} 3
archway_ipfilter_denied_total{class="office"} 1
archway_ipfilter_denied_total{class="partners"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "archway_ipfilter_denied_total"); err != nil {
			t.Error(err)
		}
	})
}

func TestUnknownClassFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFilter(t, testConfig)
	if f.HasClass("nope") || !f.HasClass("office") {
		t.Errorf("HasClass(nope) = %v, HasClass(office) = %v", f.HasClass("nope"), f.HasClass("office"))
	}
	rec, passed := serve(t, f.Middleware, "192.0.2.1:4000", &policy.Policy{IPFilterClass: "nope"})
	if passed || rec.Code != http.StatusInternalServerError {
		t.Errorf("passed = %v, status %d; want refused with 500", passed, rec.Code)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  config.IPFilter
		want string
	}{
		{"global allow", config.IPFilter{Allow: []string{"10.0.0.0/8", "nope"}}, `ipfilter.New: ip_filter.allow[1]: "nope" is not an address`},
		{"class deny", config.IPFilter{Classes: map[string]config.IPFilterClass{"x": {Deny: []string{"10.0.0.1/8"}}}}, `ipfilter.New: ip_filter.classes.x.deny[0]: "10.0.0.1/8" has bits set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ipfilter.New(tc.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("New() = %v, want %q", err, tc.want)
			}
		})
	}
	reg := prometheus.NewRegistry()
	newFilter(t, config.IPFilter{}, ipfilter.WithRegisterer(reg))
	if _, err := ipfilter.New(config.IPFilter{}, ipfilter.WithRegisterer(reg)); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
}

// TestLargeListsMatchPrefixContains checks the lookup that long lists use against
// netip.Prefix.Contains: for every prefix length of both families, a deny list of that prefix
// plus padding that makes the list long, probed at the edges of the prefix and its sibling.
func TestLargeListsMatchPrefixContains(t *testing.T) {
	t.Parallel()
	var prefixes []netip.Prefix
	for bits := 0; bits <= 32; bits++ {
		prefixes = append(prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{0xa5, 0x5a, 0xc3, 0x3c}), bits).Masked())
	}
	for bits := 0; bits <= 128; bits++ {
		prefixes = append(prefixes, netip.PrefixFrom(netip.MustParseAddr("a55a:c33c:a55a:c33c:a55a:c33c:a55a:c33c"), bits).Masked())
	}
	var padding []string
	for i := range 20 {
		padding = append(padding, fmt.Sprintf("240.0.0.%d", i), fmt.Sprintf("fd00::%x/128", i))
	}
	for _, p := range prefixes {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			f := newFilter(t, config.IPFilter{Deny: append([]string{p.String()}, padding...)})
			probes := []netip.Addr{p.Addr(), p.Addr().Prev(), p.Addr().Next(), sibling(p)}
			if p.Bits() < p.Addr().BitLen() {
				upper := netip.PrefixFrom(sibling(netip.PrefixFrom(p.Addr(), p.Bits()+1)), p.Bits()+1).Addr()
				probes = append(probes, upper, upper.Prev(), upper.Next())
			}
			for _, ip := range probes {
				if !ip.IsValid() || strings.HasPrefix(ip.String(), "240.0.0.") || strings.HasPrefix(ip.String(), "fd00::") {
					continue
				}
				if got, want := f.Allowed("", ip), !p.Contains(ip); got != want {
					t.Errorf("Allowed(%v) = %v, want %v", ip, got, want)
				}
			}
		})
	}
}

// sibling returns the first address of the other half of the prefix one bit shorter than p:
// p's address with its last prefix bit flipped.
func sibling(p netip.Prefix) netip.Addr {
	if p.Bits() == 0 {
		return p.Addr()
	}
	a := p.Addr().As16()
	bit := p.Bits() - 1
	if p.Addr().Is4() {
		bit += 96
	}
	a[bit/8] ^= 0x80 >> (bit % 8)
	ip := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		ip = ip.Unmap()
	}
	return ip
}

func BenchmarkAllowed(b *testing.B) {
	for _, n := range []int{10, 10000} {
		deny := make([]string, 0, n)
		for i := range n {
			bits := 16 + i%17 // lengths /16 to /32
			a := netip.AddrFrom4([4]byte{byte(11 + i%200), byte(i >> 8), byte(i), 0})
			deny = append(deny, netip.PrefixFrom(a, bits).Masked().String())
		}
		f := newFilter(b, config.IPFilter{Deny: deny, Allow: []string{"0.0.0.0/0", "::/0"}})
		for _, ip := range []string{"192.0.2.1", "2001:db8::1"} {
			addr := netip.MustParseAddr(ip)
			b.Run(fmt.Sprintf("prefixes=%d/ip=%s", n, ip), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !f.Allowed("", addr) {
						b.Fatal("denied")
					}
				}
			})
		}
	}
}

func BenchmarkGlobalMiddleware(b *testing.B) {
	f := newFilter(b, testConfig)
	h := edge.RequestID(f.GlobalMiddleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	req := httptest.NewRequest(http.MethodGet, "/v1/users", nil)
	req.RemoteAddr = "192.0.2.1:4000"
	req.Header.Set("X-Request-Id", "bench")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
