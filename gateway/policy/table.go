package policy

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/transcode"
	policyv1 "github.com/archway-gateway/archway/gen/archway/policy/v1"
)

// Table maps gRPC methods to their policies. It is built once by [Build] and safe for
// concurrent use.
type Table struct {
	byMethod map[string]*Policy
}

// Lookup returns the policy of the method with the given full name, as in
// "/storefront.users.v1.UserService/GetUser".
func (t *Table) Lookup(method string) (*Policy, bool) {
	p, ok := t.byMethod[method]
	return p, ok
}

// Methods returns the full names of every method in the table, sorted.
func (t *Table) Methods() []string {
	return slices.Sorted(maps.Keys(t.byMethod))
}

// Build reads the archway.policy.v1.route option of every method of services, fills in
// cfg.Policy.Defaults and applies cfg.Policy.Routes. It reports every problem at once, each
// naming the method: an unknown rate-limit or IP filter class, an override for a method that is
// not linked into the binary, an invalid access value or scope. An override for a linked method
// of a service not among services is ignored.
func Build(services []protoreflect.ServiceDescriptor, cfg *config.Config) (*Table, error) {
	t := &Table{byMethod: make(map[string]*Policy)}
	b := builder{cfg: cfg, access: make(map[string]bool)}
	for _, sd := range services {
		methods := sd.Methods()
		for i := range methods.Len() {
			md := methods.Get(i)
			p := b.method(md)
			t.byMethod[p.Method] = p
		}
	}
	for _, key := range slices.Sorted(maps.Keys(cfg.Policy.Routes)) {
		p, ok := t.byMethod["/"+key]
		if !ok {
			if LinkedMethod(key) == nil {
				b.failf("policy.routes[%q]: no method %s is linked into the gateway (write keys as package.Service/Method)", key, key)
			}
			// A method of a service this gateway does not serve, such as a composite left out
			// by composite.mode: nothing to override.
			continue
		}
		b.override(p, key, cfg.Policy.Routes[key])
	}
	for _, m := range t.Methods() {
		b.checkClasses(t.byMethod[m])
	}
	if len(b.errs) > 0 {
		return nil, fmt.Errorf("policy.Build: %w", errors.Join(b.errs...))
	}
	return t, nil
}

type builder struct {
	cfg  *config.Config
	errs []error
	// access holds each method's access before scopes are taken into account: from the
	// defaults, the annotation or the override, whichever came last.
	access map[string]bool
}

func (b *builder) failf(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

// method builds the policy of md from the defaults and its annotation.
func (b *builder) method(md protoreflect.MethodDescriptor) *Policy {
	name := FullMethodName(md)
	d := b.cfg.Policy.Defaults
	p := &Policy{
		Method:         name,
		Descriptor:     md,
		Authenticated:  d.Access != "public",
		RateLimitClass: d.RateLimitClass,
		Idempotent:     boundToGET(md),
	}
	if !md.IsStreamingClient() && !md.IsStreamingServer() {
		p.Timeout = d.Timeout.D()
	}
	b.access[name] = p.Authenticated
	rp, _ := proto.GetExtension(md.Options(), policyv1.E_Route).(*policyv1.RoutePolicy)
	if rp == nil {
		return p
	}
	switch rp.GetAccess() {
	case policyv1.Access_ACCESS_PUBLIC:
		p.Authenticated = false
	case policyv1.Access_ACCESS_AUTHENTICATED:
		p.Authenticated = true
	}
	b.access[name] = p.Authenticated
	p.Scopes = b.scopes(name, rp.GetScopes())
	if c := rp.GetRateLimitClass(); c != "" {
		p.RateLimitClass = c
	}
	p.IPFilterClass = rp.GetIpFilterClass()
	if rp.GetTimeout() != nil {
		p.Timeout = rp.GetTimeout().AsDuration()
	}
	if rp.Idempotent != nil {
		p.Idempotent = rp.GetIdempotent()
	}
	if c := rp.GetCache(); c != nil {
		p.Cache = Cache{
			TTL:                  c.GetTtl().AsDuration(),
			StaleWhileRevalidate: c.GetStaleWhileRevalidate().AsDuration(),
			Shared:               c.GetShared(),
			NotFoundTTL:          c.GetNotFoundTtl().AsDuration(),
			Invalidates:          slices.Clone(c.GetInvalidates()),
		}
		for _, h := range c.GetVaryHeaders() {
			p.Cache.VaryHeaders = append(p.Cache.VaryHeaders, http.CanonicalHeaderKey(h))
		}
	}
	if p.Timeout < 0 || p.Cache.TTL < 0 || p.Cache.StaleWhileRevalidate < 0 || p.Cache.NotFoundTTL < 0 {
		b.failf("%s: the archway.policy.v1.route option has a negative duration", name)
	}
	b.authenticatedIfScoped(p)
	return p
}

// override applies the configured override o, for the method written key, to p.
func (b *builder) override(p *Policy, key string, o config.RouteOverride) {
	path := fmt.Sprintf("policy.routes[%q]", key)
	switch o.Access {
	case "":
	case "public":
		b.access[p.Method] = false
	case "authenticated":
		b.access[p.Method] = true
	default:
		b.failf("%s.access: must be \"authenticated\" or \"public\", got %q", path, o.Access)
	}
	if o.Scopes != nil {
		p.Scopes = b.scopes(path+".scopes", o.Scopes)
	}
	if o.RateLimitClass != "" {
		p.RateLimitClass = o.RateLimitClass
	}
	if o.IPFilterClass != "" {
		p.IPFilterClass = o.IPFilterClass
	}
	if o.Timeout < 0 {
		b.failf("%s.timeout: must not be negative, got %s", path, o.Timeout)
	} else if o.Timeout > 0 {
		p.Timeout = o.Timeout.D()
	}
	if o.Idempotent != nil {
		p.Idempotent = *o.Idempotent
	}
	b.authenticatedIfScoped(p)
}

// authenticatedIfScoped sets p.Authenticated from the method's access, made authenticated by
// any scope.
func (b *builder) authenticatedIfScoped(p *Policy) {
	p.Authenticated = b.access[p.Method] || len(p.Scopes) > 0
}

// scopes checks a list of scopes: each non-empty, printable and without spaces.
func (b *builder) scopes(where string, scopes []string) []string {
	for _, s := range scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' || r == '\\' }) {
			b.failf("%s: scope %q must be non-empty, without spaces, quotes or control characters", where, s)
		}
	}
	return slices.Clone(scopes)
}

// checkClasses checks that p's class names refer to configured classes.
func (b *builder) checkClasses(p *Policy) {
	if c := p.RateLimitClass; c == NoRateLimit {
		p.RateLimitClass = ""
	} else if _, ok := b.cfg.RateLimit.Classes[c]; !ok {
		b.failf("%s: rate-limit class %q is not configured (rate_limit.classes has %s)", p.Method, c, names(b.cfg.RateLimit.Classes))
	}
	if c := p.IPFilterClass; c != "" {
		if _, ok := b.cfg.IPFilter.Classes[c]; !ok {
			b.failf("%s: IP filter class %q is not configured (ip_filter.classes has %s)", p.Method, c, names(b.cfg.IPFilter.Classes))
		}
	}
}

func names[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// LinkedMethod finds the method named fullName ("/package.Service/Method", the leading slash
// optional) among the descriptors linked into the binary; nil when it is not there. A hand-made
// Policy gets its Descriptor from it.
func LinkedMethod(fullName string) protoreflect.MethodDescriptor {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullName, "/"), "/")
	if !ok {
		return nil
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil
	}
	return sd.Methods().ByName(protoreflect.Name(method))
}

// FullMethodName is the gRPC name of md, as in "/storefront.users.v1.UserService/GetUser": the
// key of a [Table].
func FullMethodName(md protoreflect.MethodDescriptor) string {
	return "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
}

// boundToGET reports whether the method's primary google.api.http binding is a GET.
func boundToGET(md protoreflect.MethodDescriptor) bool {
	return transcode.Rule(md).GetGet() != ""
}

// Describe returns p in one line, for logs: "public, rate-limit default, timeout 30s, idempotent".
func (p *Policy) Describe() string {
	var parts []string
	if p.Authenticated {
		a := "authenticated"
		if len(p.Scopes) > 0 {
			a += " with scopes " + strings.Join(p.Scopes, " ")
		}
		parts = append(parts, a)
	} else {
		parts = append(parts, "public")
	}
	if p.RateLimitClass != "" {
		parts = append(parts, "rate-limit "+p.RateLimitClass)
	}
	if p.IPFilterClass != "" {
		parts = append(parts, "ip-filter "+p.IPFilterClass)
	}
	if p.Timeout > 0 {
		parts = append(parts, "timeout "+p.Timeout.String())
	}
	if p.Idempotent {
		parts = append(parts, "idempotent")
	}
	if p.Cache.TTL > 0 {
		parts = append(parts, "cache "+p.Cache.TTL.Round(time.Millisecond).String())
	}
	return strings.Join(parts, ", ")
}
