package ipfilter

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
)

// GlobalClass is the class label of the denials by the global lists.
const GlobalClass = "global"

// deniedMessage is what a refused client reads; it names no rule.
const deniedMessage = "your address is not allowed to call this API"

// Filter checks client addresses against the configured lists. Create it with [New]; it is
// safe for concurrent use.
type Filter struct {
	global  rules
	classes map[string]*rules
}

// New builds the filter of cfg. It reports the first entry that is not a CIDR or an address
// (see [config.ParsePrefix]), naming its YAML path, and fails when the metrics cannot be
// registered.
func New(cfg config.IPFilter, opts ...Option) (*Filter, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	f := &Filter{classes: make(map[string]*rules, len(cfg.Classes))}
	var err error
	if f.global, err = newRules("ip_filter", cfg.Allow, cfg.Deny); err != nil {
		return nil, fmt.Errorf("ipfilter.New: %w", err)
	}
	for name, c := range cfg.Classes {
		r, err := newRules("ip_filter.classes."+name, c.Allow, c.Deny)
		if err != nil {
			return nil, fmt.Errorf("ipfilter.New: %w", err)
		}
		f.classes[name] = &r
	}
	denied := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "archway_ipfilter_denied_total",
		Help: "Requests refused by IP filtering, by class (\"global\" for the global lists).",
	}, []string{"class"})
	if o.registerer != nil {
		if err := o.registerer.Register(denied); err != nil {
			return nil, fmt.Errorf("ipfilter.New: register metrics: %w", err)
		}
	}
	f.global.denied = denied.WithLabelValues(GlobalClass)
	for name, r := range f.classes {
		r.denied = denied.WithLabelValues(name)
	}
	return f, nil
}

// HasClass reports whether name is a configured class, so that the routes' policies can be
// checked at start-up.
func (f *Filter) HasClass(name string) bool {
	_, ok := f.classes[name]
	return ok
}

// Allowed reports whether ip may call routes of class, or any route when class is "": the
// global lists are checked, then the class's. A class that is not configured allows nothing.
func (f *Filter) Allowed(class string, ip netip.Addr) bool {
	ip = ip.Unmap()
	if !f.global.allows(ip) {
		return false
	}
	if class == "" {
		return true
	}
	r, ok := f.classes[class]
	return ok && r.allows(ip)
}

// GlobalMiddleware refuses clients that the global lists do not allow. It runs before routing,
// after [edge.ClientIP]; with empty global lists it returns next.
func (f *Filter) GlobalMiddleware(next http.Handler) http.Handler {
	if f.global.empty() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.global.allows(clientIP(r)) {
			f.global.denied.Inc()
			deny(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Middleware refuses clients that the lists of the matched route's class do not allow. It runs
// after routing; a request with no route policy, or whose policy names no class, passes. A
// class that is not configured refuses every request with 500 INTERNAL, since the policy table
// and the filter disagree (check them at start-up with [Filter.HasClass]).
func (f *Filter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := policy.FromContext(r.Context())
		if p == nil || p.IPFilterClass == "" {
			next.ServeHTTP(w, r)
			return
		}
		rules, ok := f.classes[p.IPFilterClass]
		if !ok {
			edge.WriteStatus(w, 0, edge.InternalError(edge.RequestIDFrom(r.Context())))
			return
		}
		if !rules.allows(clientIP(r)) {
			rules.denied.Inc()
			deny(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func clientIP(r *http.Request) netip.Addr {
	if s := edge.StateFrom(r.Context()); s != nil {
		return s.ClientIP().Unmap()
	}
	return netip.Addr{}
}

func deny(w http.ResponseWriter) {
	edge.WriteStatus(w, http.StatusForbidden, status.New(codes.PermissionDenied, deniedMessage))
}

// rules is one allow and deny list pair, and the counter of the requests it refused.
type rules struct {
	allow, deny prefixSet
	denied      prometheus.Counter
}

func newRules(path string, allow, deny []string) (rules, error) {
	var r rules
	var err error
	if r.allow, err = newPrefixSet(path+".allow", allow); err != nil {
		return rules{}, err
	}
	if r.deny, err = newPrefixSet(path+".deny", deny); err != nil {
		return rules{}, err
	}
	return r, nil
}

func (r *rules) empty() bool { return r.allow.empty() && r.deny.empty() }

// allows reports whether ip (unmapped) passes: no deny entry covers it, and the allow list is
// empty or covers it.
func (r *rules) allows(ip netip.Addr) bool {
	if r.deny.contains(ip) {
		return false
	}
	return r.allow.empty() || r.allow.contains(ip)
}

// linearMax is the size up to which a prefixSet compares an address with each prefix in turn;
// larger sets use their per-length maps.
const linearMax = 16

// prefixSet answers whether any of its prefixes contains an address. A large set costs one map
// lookup per distinct prefix length rather than one comparison per prefix, so a list of
// thousands of CIDRs costs about as much as a list of a few dozen.
type prefixSet struct {
	list           []netip.Prefix
	v4Bits, v6Bits []int // the distinct prefix lengths, longest first
	v4             map[v4Key]struct{}
	v6             map[v6Key]struct{}
}

// v4Key is an IPv4 prefix's address in the high 32 bits and its length in the low ones.
type v4Key uint64

type v6Key struct {
	hi, lo uint64
	bits   int
}

func newPrefixSet(path string, list []string) (prefixSet, error) {
	var s prefixSet
	for i, entry := range list {
		p, err := config.ParsePrefix(entry)
		if err != nil {
			return prefixSet{}, fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		s.list = append(s.list, p)
	}
	if len(s.list) <= linearMax {
		return s, nil
	}
	s.v4, s.v6 = make(map[v4Key]struct{}), make(map[v6Key]struct{})
	for _, p := range s.list {
		if p.Addr().Is4() {
			s.v4[key4(p.Addr(), p.Bits())] = struct{}{}
			s.v4Bits = appendNew(s.v4Bits, p.Bits())
		} else {
			s.v6[key6(p.Addr(), p.Bits())] = struct{}{}
			s.v6Bits = appendNew(s.v6Bits, p.Bits())
		}
	}
	slices.SortFunc(s.v4Bits, func(a, b int) int { return b - a })
	slices.SortFunc(s.v6Bits, func(a, b int) int { return b - a })
	return s, nil
}

func appendNew(list []int, n int) []int {
	if slices.Contains(list, n) {
		return list
	}
	return append(list, n)
}

// key4 is the map key of ip's first bits bits.
func key4(ip netip.Addr, bits int) v4Key {
	a := ip.As4()
	v := binary.BigEndian.Uint32(a[:])
	if bits < 32 {
		v &^= math.MaxUint32 >> bits
	}
	return v4Key(uint64(v)<<32 | uint64(bits))
}

// key6 is the map key of ip's first bits bits.
func key6(ip netip.Addr, bits int) v6Key {
	a := ip.As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	switch {
	case bits <= 64:
		lo = 0
		if bits < 64 {
			hi &^= math.MaxUint64 >> bits
		}
	case bits < 128:
		lo &^= math.MaxUint64 >> (bits - 64)
	}
	return v6Key{hi: hi, lo: lo, bits: bits}
}

func (s *prefixSet) empty() bool { return len(s.list) == 0 }

// contains reports whether a prefix of s contains ip, which must be unmapped.
func (s *prefixSet) contains(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	if s.v4 == nil {
		for _, p := range s.list {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if ip.Is4() {
		for _, b := range s.v4Bits {
			if _, ok := s.v4[key4(ip, b)]; ok {
				return true
			}
		}
		return false
	}
	for _, b := range s.v6Bits {
		if _, ok := s.v6[key6(ip, b)]; ok {
			return true
		}
	}
	return false
}
