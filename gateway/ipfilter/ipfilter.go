package ipfilter

import (
	"fmt"
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

// prefixSet answers whether any of its prefixes contains an address, with one map lookup per
// distinct prefix length in the set rather than one comparison per prefix, so a list of
// thousands of CIDRs costs about as much as a list of a few.
type prefixSet struct {
	v4Bits, v6Bits []int // the distinct prefix lengths, longest first
	set            map[netip.Prefix]struct{}
}

func newPrefixSet(path string, list []string) (prefixSet, error) {
	s := prefixSet{set: make(map[netip.Prefix]struct{}, len(list))}
	for i, entry := range list {
		p, err := config.ParsePrefix(entry)
		if err != nil {
			return prefixSet{}, fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		s.set[p] = struct{}{}
		bits := &s.v6Bits
		if p.Addr().Is4() {
			bits = &s.v4Bits
		}
		if !slices.Contains(*bits, p.Bits()) {
			*bits = append(*bits, p.Bits())
		}
	}
	slices.SortFunc(s.v4Bits, func(a, b int) int { return b - a })
	slices.SortFunc(s.v6Bits, func(a, b int) int { return b - a })
	return s, nil
}

func (s *prefixSet) empty() bool { return len(s.set) == 0 }

func (s *prefixSet) contains(ip netip.Addr) bool {
	bits := s.v6Bits
	if ip.Is4() {
		bits = s.v4Bits
	}
	for _, b := range bits {
		p, err := ip.Prefix(b)
		if err != nil {
			return false
		}
		if _, ok := s.set[p]; ok {
			return true
		}
	}
	return false
}
