package authn

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
)

// Authenticator verifies credentials and enforces route access. Create it with [New] and
// release it with [Authenticator.Close]; it is safe for concurrent use.
type Authenticator struct {
	o       options
	skew    time.Duration
	header  string
	streams config.StreamCredentials
	apiKeys []apiKey
	issuers map[string]*issuer
	// failed limits the failed authentications of each client address; nil when off.
	failed    *attempts
	failures  *prometheus.CounterVec
	jwksFails *prometheus.CounterVec

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New builds the Authenticator for cfg, which must be valid (see config.Config.Validate). It
// loads every issuer's keys: a JWKS file that cannot be read or parsed is an error; a JWKS URL
// that cannot be fetched is logged and fetched again later, so that the gateway starts while an
// identity provider is down (its tokens are refused until a fetch succeeds). ctx bounds those
// first fetches. New starts one goroutine per issuer to refresh its keys; Close stops them.
func New(ctx context.Context, cfg config.Authn, opts ...Option) (*Authenticator, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	a := &Authenticator{
		o:       o,
		skew:    cfg.ClockSkew.D(),
		header:  cfg.APIKeyHeader,
		streams: cfg.StreamCredentials,
		apiKeys: newAPIKeys(cfg.APIKeys),
		issuers: make(map[string]*issuer, len(cfg.JWTIssuers)),
		failed:  newAttempts(cfg.FailedAttempts),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archway_authn_failures_total",
			Help: "Requests refused by authentication or authorization, by reason.",
		}, []string{"reason"}),
		jwksFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archway_authn_jwks_fetch_failures_total",
			Help: "Failed fetches of a JWT issuer's key set, by issuer.",
		}, []string{"issuer"}),
	}
	if a.header == "" {
		a.header = config.Default().Authn.APIKeyHeader
	}
	if o.registerer != nil {
		for _, c := range []prometheus.Collector{a.failures, a.jwksFails} {
			if err := o.registerer.Register(c); err != nil {
				return nil, fmt.Errorf("authn.New: register metrics: %w", err)
			}
		}
	}
	var sources []*keySource
	for _, ic := range cfg.JWTIssuers {
		is, err := a.newIssuer(ic)
		if err != nil {
			return nil, fmt.Errorf("authn.New: issuer %q: %w", ic.Issuer, err)
		}
		is.keys.mu.Lock()
		err = is.keys.fetch(ctx)
		is.keys.mu.Unlock()
		if err != nil && ic.JWKSFile != "" {
			return nil, fmt.Errorf("authn.New: issuer %q: jwks_file %s: %w", ic.Issuer, ic.JWKSFile, err)
		}
		a.issuers[ic.Issuer] = is
		sources = append(sources, is.keys)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = stop
	for i, src := range sources {
		interval := cfg.JWTIssuers[i].RefreshInterval.D()
		if interval <= 0 {
			interval = config.DefaultJWKSRefresh
		}
		a.wg.Go(func() { src.run(runCtx, interval) })
	}
	return a, nil
}

// newIssuer builds the issuer of one configuration entry, without loading its keys.
func (a *Authenticator) newIssuer(ic config.JWTIssuer) (*issuer, error) {
	names := ic.Algorithms
	if len(names) == 0 {
		names = config.DefaultJWTAlgorithms
	}
	allowed := make([]jwa.SignatureAlgorithm, 0, len(names))
	for _, name := range names {
		alg, ok := jwa.LookupSignatureAlgorithm(name)
		if !ok || !slices.Contains(config.JWTAlgorithms, name) {
			return nil, fmt.Errorf("algorithm %q is not supported", name)
		}
		allowed = append(allowed, alg)
	}
	fails := a.jwksFails.WithLabelValues(ic.Issuer)
	return &issuer{
		audiences: ic.Audiences,
		allowed:   allowed,
		keys: &keySource{
			issuer:     ic.Issuer,
			file:       ic.JWKSFile,
			url:        ic.JWKSURL,
			allowed:    allowed,
			client:     a.o.client,
			logger:     a.o.logger,
			now:        a.o.now,
			minRefetch: a.o.minRefetch,
			onFailure:  fails.Inc,
		},
	}, nil
}

// Close stops refreshing the issuers' keys. It is safe to call more than once.
func (a *Authenticator) Close() error {
	a.stop()
	a.wg.Wait()
	return nil
}

// Middleware authenticates each routed request and enforces its route's policy; see the
// package documentation. It must run after routing, where policy.FromContext returns the
// route's policy: a request without one passes untouched.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := policy.FromContext(r.Context())
		if p == nil {
			next.ServeHTTP(w, r)
			return
		}
		id, present, out, f := a.authenticate(r, p.Descriptor)
		if f != nil {
			if a.failed != nil && f.retryAfter == 0 {
				a.failed.fail(clientIP(r), a.o.now())
			}
			a.refuse(w, f)
			return
		}
		r = out
		if !present {
			if p.Authenticated || len(p.Scopes) > 0 {
				a.refuse(w, &failure{reason: ReasonMissing, msg: "this method requires a bearer token or an API key"})
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if s := edge.StateFrom(r.Context()); s != nil {
			s.SetIdentity(id)
		}
		if missing := missingScopes(p.Scopes, id.Scopes); len(missing) > 0 {
			a.forbid(w, p.Scopes, missing)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate verifies the credential of the request to a route of method md, and returns the
// request to pass on: without the credentials that streamCredentials took from it. present is
// false when it carries none.
func (a *Authenticator) authenticate(r *http.Request, md protoreflect.MethodDescriptor) (id edge.Identity, present bool, out *http.Request, f *failure) {
	extra, out, f := streamCredentials(r, a.streams, md)
	if f != nil {
		return edge.Identity{}, true, nil, f
	}
	authz := out.Header.Values("Authorization")
	keys := out.Header.Values(a.header)
	places := len(extra)
	if len(authz) > 0 {
		places++
	}
	if len(keys) > 0 {
		places++
	}
	if places > 0 && a.failed != nil {
		if wait := a.failed.wait(clientIP(r), a.o.now()); wait > 0 {
			return edge.Identity{}, true, nil, tooManyFailures(wait)
		}
	}
	var c credential
	switch {
	case places == 0:
		return edge.Identity{}, false, out, nil
	case places > 1 && len(extra) == 0:
		return edge.Identity{}, true, nil, errBothCredentials
	case places > 1:
		return edge.Identity{}, true, nil, errManyCredentials
	case len(extra) == 1:
		c = extra[0]
	case len(keys) > 0:
		c = credential{apiKey: true, value: keys[0], multiple: len(keys) > 1}
	default:
		if len(authz) > 1 {
			return edge.Identity{}, true, nil, errMalformedHeader
		}
		token, err := ParseBearer(authz[0])
		if err != nil {
			return edge.Identity{}, true, nil, errMalformedHeader
		}
		c = credential{value: token}
	}
	switch {
	case c.apiKey && c.multiple:
		return edge.Identity{}, true, nil, errAPIKey
	case c.apiKey:
		id, f = a.verifyAPIKey(c.value)
	case c.multiple:
		return edge.Identity{}, true, nil, errManyCredentials
	default:
		if _, err := ParseBearer("Bearer " + c.value); err != nil {
			return edge.Identity{}, true, nil, errMalformedToken
		}
		id, f = a.verifyToken(r.Context(), c.value)
	}
	if f != nil {
		return edge.Identity{}, true, nil, f
	}
	return id, true, out, nil
}

// clientIP is the address of the request's client, as the edge chain resolved it; the zero
// Addr when the request did not pass through it.
func clientIP(r *http.Request) netip.Addr {
	if s := edge.StateFrom(r.Context()); s != nil {
		return s.ClientIP()
	}
	return netip.Addr{}
}

// missingScopes returns the scopes of want that have does not hold.
func missingScopes(want, have []string) []string {
	var missing []string
	for _, s := range want {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// realm is the protection space named in every challenge.
const realm = `Bearer realm="archway"`

// refuse answers 401 UNAUTHENTICATED with an RFC 6750 challenge, 400 INVALID_ARGUMENT for a
// credential sent where it is not accepted, or 429 RESOURCE_EXHAUSTED with Retry-After for a
// client that failed too often, and counts the failure.
func (a *Authenticator) refuse(w http.ResponseWriter, f *failure) {
	a.failures.WithLabelValues(f.reason).Inc()
	challenge := realm
	switch {
	case f.retryAfter > 0:
		secs := int64((f.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		st := status.New(codes.ResourceExhausted, f.msg)
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)}); err == nil {
			st = d
		}
		edge.WriteStatus(w, http.StatusTooManyRequests, st)
		return
	case f.invalidRequest:
		challenge += `, error="invalid_request", error_description="` + quotable(f.msg) + `"`
		w.Header().Set("WWW-Authenticate", challenge)
		edge.WriteStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, f.msg))
		return
	case f.bearer:
		challenge += `, error="invalid_token", error_description="` + quotable(f.msg) + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	edge.WriteStatus(w, http.StatusUnauthorized, status.New(codes.Unauthenticated, f.msg))
}

// forbid answers 403 PERMISSION_DENIED for a caller that lacks scopes the route requires.
func (a *Authenticator) forbid(w http.ResponseWriter, required, missing []string) {
	a.failures.WithLabelValues(ReasonInsufficientScope).Inc()
	w.Header().Set("WWW-Authenticate", realm+`, error="insufficient_scope", scope="`+quotable(strings.Join(required, " "))+`"`)
	edge.WriteStatus(w, http.StatusForbidden, status.New(codes.PermissionDenied,
		"the caller lacks the scope this method requires: "+strings.Join(missing, ", ")))
}

// quotable makes s fit inside a quoted challenge parameter, where RFC 6750 allows neither
// '"' nor '\'.
func quotable(s string) string {
	return strings.NewReplacer(`"`, "'", `\`, "").Replace(s)
}
