package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
)

// The response header fields of the rate limit.
const (
	HeaderLimit      = "RateLimit-Limit"
	HeaderRemaining  = "RateLimit-Remaining"
	HeaderReset      = "RateLimit-Reset"
	HeaderPolicy     = "RateLimit-Policy"
	HeaderRetryAfter = "Retry-After"
)

// The header names as http.Header keys them, to set the values without the canonicalisation
// of each call to Set.
var (
	keyLimit     = http.CanonicalHeaderKey(HeaderLimit)
	keyRemaining = http.CanonicalHeaderKey(HeaderRemaining)
	keyReset     = http.CanonicalHeaderKey(HeaderReset)
	keyPolicy    = http.CanonicalHeaderKey(HeaderPolicy)
)

// storeErrorRetryAfter is the Retry-After of a request refused because the store failed.
const storeErrorRetryAfter = "1"

// Limiter enforces the rate-limit classes of the routes' policies. It is safe for concurrent
// use.
type Limiter struct {
	classes map[string]*class
	store   Store
	// streams counts the open streams of each client, at most maxStreams; streamsRefused
	// is the status of a stream beyond them.
	streams        StreamStore
	maxStreams     int
	streamsRefused *status.Status
	failClosed     bool
	logger         *slog.Logger
	metrics        *metrics
	// storeFailing is true from a store error until the next successful decision; its
	// changes are what gets logged.
	storeFailing atomic.Bool
}

// class is one configured class, with what its responses need prepared.
type class struct {
	name   string
	limit  Limit
	limitH []string // RateLimit-Limit
	policy []string // RateLimit-Policy
	counts decisionCounters
}

// New returns a Limiter for the classes of cfg, failing open or closed on store errors as
// cfg.OnStoreError says. Its store is the one given with [WithStore], else a [MemoryStore]
// of cfg.MemoryMaxKeys buckets; a cfg.Store of "redis" needs WithStore.
func New(cfg config.RateLimit, opts ...Option) (*Limiter, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.store == nil {
		if cfg.Store == "redis" {
			return nil, errors.New(`ratelimit.New: store "redis" needs a Redis store (WithStore(NewRedisStore(client)))`)
		}
		o.store = NewMemoryStore(cfg.MemoryMaxKeys)
	}
	m, err := newMetrics(o.registerer)
	if err != nil {
		return nil, fmt.Errorf("ratelimit.New: %w", err)
	}
	if cfg.MaxStreamsPerClient <= 0 {
		return nil, fmt.Errorf("ratelimit.New: max_streams_per_client must be positive, got %d", cfg.MaxStreamsPerClient)
	}
	l := &Limiter{
		classes:        make(map[string]*class, len(cfg.Classes)),
		store:          o.store,
		streams:        &localStreams{open: make(map[string]int)},
		maxStreams:     cfg.MaxStreamsPerClient,
		streamsRefused: streamsRefused(cfg.MaxStreamsPerClient),
		failClosed:     cfg.OnStoreError == "fail_closed",
		logger:         o.logger,
		metrics:        m,
	}
	if ss, ok := o.store.(StreamStore); ok {
		l.streams = ss
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Classes)) {
		c := cfg.Classes[name]
		limit := Limit{Requests: c.Requests, Per: c.Per.D(), Burst: c.Burst}
		if err := limit.check(); err != nil {
			return nil, fmt.Errorf("ratelimit.New: class %q: %w", name, err)
		}
		if limit.Per%time.Second != 0 {
			return nil, fmt.Errorf("ratelimit.New: class %q: per must be a whole number of seconds, got %s", name, limit.Per)
		}
		l.classes[name] = &class{
			name:   name,
			limit:  limit,
			limitH: []string{strconv.Itoa(limit.Burst)},
			policy: []string{fmt.Sprintf("%d;w=%d;burst=%d", limit.Requests, limit.Per/time.Second, limit.Burst)},
			counts: m.forClass(name),
		}
	}
	return l, nil
}

// Middleware limits the requests to routes whose policy names a rate-limit class, and the
// streams each client holds open at once on streaming routes, whatever their class; it passes
// every other request (no policy, or no class and no stream) to next untouched. It must run
// after authentication, so that it sees the caller's identity, and after routing has put the
// route's policy in the request context.
//
// An allowed request gets the RateLimit header fields and goes on to next. A refused one is
// answered 429 RESOURCE_EXHAUSTED with Retry-After. When the store fails, the request goes on
// without the header fields (fail open) or is answered 503 UNAVAILABLE (fail closed). A stream
// beyond its client's max_streams_per_client is answered 429 RESOURCE_EXHAUSTED with
// Retry-After too.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p := policy.FromContext(ctx)
		if p == nil {
			next.ServeHTTP(w, r)
			return
		}
		if p.RateLimitClass == "" {
			l.pass(next, w, r, p)
			return
		}
		c := l.classes[p.RateLimitClass]
		if c == nil {
			// The policy table checks class names against the same configuration, so
			// this is a wiring mistake: refuse rather than serve without a limit.
			l.logger.ErrorContext(ctx, "rate-limit class is not configured",
				slog.String("class", p.RateLimitClass), slog.String("method", p.Method))
			edge.WriteStatus(w, 0, edge.InternalError(edge.RequestIDFrom(ctx)))
			return
		}
		res, err := l.store.Allow(ctx, c.name+":"+clientKey(ctx), c.limit, 1)
		if err != nil {
			if ctx.Err() != nil {
				edge.WriteStatus(w, 0, status.New(codes.Canceled, "the request was cancelled"))
				return
			}
			l.storeFailed(ctx, err)
			if l.failClosed {
				c.counts.failedClosed.Inc()
				w.Header().Set(HeaderRetryAfter, storeErrorRetryAfter)
				edge.WriteStatus(w, 0, status.New(codes.Unavailable,
					"rate limiting is unavailable, so the request was refused; retry in 1 second"))
				return
			}
			c.counts.failedOpen.Inc()
			l.pass(next, w, r, p)
			return
		}
		if l.storeFailing.Load() && l.storeFailing.CompareAndSwap(true, false) {
			l.logger.InfoContext(ctx, "rate-limit store recovered: limiting again")
		}
		h := w.Header()
		h[keyLimit] = c.limitH
		h[keyRemaining] = []string{strconv.Itoa(res.Remaining)}
		h[keyReset] = []string{strconv.FormatInt(ceilSeconds(res.ResetAfter), 10)}
		h[keyPolicy] = c.policy
		if !res.Allowed {
			c.counts.limited.Inc()
			retry := ceilSeconds(res.RetryAfter)
			h.Set(HeaderRetryAfter, strconv.FormatInt(retry, 10))
			edge.WriteStatus(w, 0, limitedStatus(c, retry))
			return
		}
		c.counts.allowed.Inc()
		l.pass(next, w, r, p)
	})
}

// pass serves a request that its class allows: through the cap on open streams when its
// route streams, else with next directly.
func (l *Limiter) pass(next http.Handler, w http.ResponseWriter, r *http.Request, p *policy.Policy) {
	if isStream(p) {
		l.limitStreams(next, w, r)
		return
	}
	next.ServeHTTP(w, r)
}

// storeFailed counts a store error, and logs it when the store was working until now.
func (l *Limiter) storeFailed(ctx context.Context, err error) {
	l.metrics.storeErrors.Inc()
	if l.storeFailing.Load() || !l.storeFailing.CompareAndSwap(false, true) {
		return
	}
	then := "failing open: requests are not limited until it recovers"
	if l.failClosed {
		then = "failing closed: limited routes answer 503 until it recovers"
	}
	l.logger.ErrorContext(ctx, "rate-limit store failed; "+then, slog.Any("error", err))
}

// limitedStatus is the status of a request refused by class c, retryable in retry seconds.
func limitedStatus(c *class, retry int64) *status.Status {
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(
		"rate limit of class %q exceeded (%d requests per %s, burst %d); retry in %d second%s",
		c.name, c.limit.Requests, c.limit.Per, c.limit.Burst, retry, plural(retry)))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(retry) * time.Second)}); err == nil {
		return d
	}
	return st
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ceilSeconds returns d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// clientKey names the client of the request: its verified identity ("id:" and its
// edge.Identity.Key, which holds the issuer), else its IP address ("ip:192.0.2.1"); the prefixes
// keep the two apart whatever a subject is.
func clientKey(ctx context.Context) string {
	s := edge.StateFrom(ctx)
	if s == nil {
		return "ip:unknown"
	}
	if id, ok := s.Identity(); ok && id.Subject != "" {
		return "id:" + id.Key()
	}
	return ipKey(s.ClientIP())
}

// ipKey names a client by address: IPv4 by the address, IPv6 by its /64 prefix.
func ipKey(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "ip:unknown"
	case ip.Is6():
		return "ip:" + netip.PrefixFrom(ip.WithZone(""), 64).Masked().String()
	default:
		return "ip:" + ip.String()
	}
}
