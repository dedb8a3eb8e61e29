package config

import (
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
)

// BackendTLS configures TLS towards one backend. With Enabled false the
// backend is dialled in plaintext, which suits loopback demos only.
type BackendTLS struct {
	// Enabled dials the backend over TLS 1.2 or later. By default false.
	Enabled bool `yaml:"enabled"`

	// CAFile is a PEM file of the certificate authorities that sign the
	// backend's certificate. By default empty: the system's roots.
	CAFile string `yaml:"ca_file"`

	// CertFile is the PEM certificate the gateway presents to the backend
	// (mTLS); set it together with key_file. By default empty: none.
	CertFile string `yaml:"cert_file"`

	// KeyFile is the PEM private key of cert_file. By default empty.
	KeyFile string `yaml:"key_file"`

	// ServerName is the name the backend's certificate must carry. By
	// default empty: the host of the address being dialled.
	ServerName string `yaml:"server_name"`
}

// BackendHealthCheck configures gRPC client health checking: the gateway
// watches grpc.health.v1.Health on every instance and sends calls only to
// those that report SERVING. An instance that does not implement the health
// service is treated as healthy.
type BackendHealthCheck struct {
	// Enabled turns health checking on. By default true.
	Enabled bool `yaml:"enabled"`

	// Service is the service name sent in the health check. By default
	// empty: the health of the whole server.
	Service string `yaml:"service"`
}

// BackendRetry configures how calls to the backend's idempotent methods
// (route policy "idempotent") are retried by gRPC. Other methods are never
// retried. A retry never runs past the call's deadline.
type BackendRetry struct {
	// MaxAttempts is the number of attempts of one call, the first
	// included, up to 5; 0 or 1 means no retries, and the other retry keys
	// are then not checked. By default 3.
	MaxAttempts int `yaml:"max_attempts"`

	// InitialBackoff is the upper bound of the randomised wait before the
	// first retry. Must be positive. By default 100ms.
	InitialBackoff Duration `yaml:"initial_backoff"`

	// MaxBackoff caps the wait before any retry. Must be at least
	// initial_backoff. By default 1s.
	MaxBackoff Duration `yaml:"max_backoff"`

	// BackoffMultiplier grows the wait after each retry. Must be at least
	// 1. By default 2.
	BackoffMultiplier float64 `yaml:"backoff_multiplier"`

	// RetryableCodes lists the gRPC codes, by name, that are retried. By
	// default ["UNAVAILABLE"]: the instance could not take the call, so
	// another one may.
	RetryableCodes []string `yaml:"retryable_codes"`

	// ThrottleMaxTokens is the token bucket of gRPC retry throttling: each
	// failure takes one token, each success gives back throttle_token_ratio,
	// and retries stop while half the bucket or less is left. From 1 to
	// 1000. By default 10.
	ThrottleMaxTokens float64 `yaml:"throttle_max_tokens"`

	// ThrottleTokenRatio is what each successful call gives back to the
	// bucket. Must be positive. By default 0.1.
	ThrottleTokenRatio float64 `yaml:"throttle_token_ratio"`
}

// BackendCircuitBreaker configures the circuit breaker of one backend.
// Failures are calls that end UNAVAILABLE, and DEADLINE_EXCEEDED after
// running at least slow_call_threshold; other outcomes mean the backend
// answered. See docs/backends.md.
type BackendCircuitBreaker struct {
	// Enabled turns the breaker on. By default true.
	Enabled bool `yaml:"enabled"`

	// FailureRatio opens the breaker when this share of the calls within
	// window failed, from 0 (exclusive) to 1. By default 0.5.
	FailureRatio float64 `yaml:"failure_ratio"`

	// MinRequests is the number of calls within window below which the
	// breaker stays closed whatever the ratio. Must be positive. By
	// default 20.
	MinRequests int `yaml:"min_requests"`

	// Window is the rolling period over which calls are counted. Must be
	// positive. By default 10s.
	Window Duration `yaml:"window"`

	// OpenTimeout is how long the open breaker fails calls fast (503 with
	// Retry-After) before it lets probes through. Must be positive. By
	// default 5s.
	OpenTimeout Duration `yaml:"open_timeout"`

	// HalfOpenRequests is the number of probe calls let through after
	// open_timeout; the breaker closes when all of them succeed and opens
	// again at the first failure. Must be positive. By default 3.
	HalfOpenRequests int `yaml:"half_open_requests"`

	// SlowCallThreshold is how long a call must have run for its
	// DEADLINE_EXCEEDED to count as a failure, so that clients sending very
	// short deadlines cannot open the breaker. Must not be negative. By
	// default 1s.
	SlowCallThreshold Duration `yaml:"slow_call_threshold"`
}

func defaultBackendRetry() BackendRetry {
	return BackendRetry{
		MaxAttempts:        3,
		InitialBackoff:     Duration(100 * time.Millisecond),
		MaxBackoff:         Duration(time.Second),
		BackoffMultiplier:  2,
		RetryableCodes:     []string{"UNAVAILABLE"},
		ThrottleMaxTokens:  10,
		ThrottleTokenRatio: 0.1,
	}
}

func defaultBackendCircuitBreaker() BackendCircuitBreaker {
	return BackendCircuitBreaker{
		Enabled:           true,
		FailureRatio:      0.5,
		MinRequests:       20,
		Window:            Duration(10 * time.Second),
		OpenTimeout:       Duration(5 * time.Second),
		HalfOpenRequests:  3,
		SlowCallThreshold: Duration(time.Second),
	}
}

// ParseCode returns the gRPC code named name, as in "UNAVAILABLE".
func ParseCode(name string) (codes.Code, bool) {
	var c codes.Code
	if err := c.UnmarshalJSON([]byte(strconv.Quote(name))); err != nil {
		return 0, false
	}
	return c, true
}

// checkResilience checks the keys of each backend that decide how it is
// reached and protected (addresses, TLS, health checks, retries, breaker,
// in-flight limit) and shutdown.ready_delay.
func (c *Config) checkResilience(ch *checker) {
	ch.nonNegative("shutdown.ready_delay", c.Shutdown.ReadyDelay)
	for i, b := range c.Backends {
		p := fmt.Sprintf("backends[%d]", i)
		b.checkAddresses(ch, p)
		b.TLS.check(ch, p+".tls")
		b.Retry.check(ch, p+".retry")
		b.CircuitBreaker.check(ch, p+".circuit_breaker")
		if b.MaxInFlight < 0 {
			ch.failf(p+".max_in_flight", "must not be negative, got %d", b.MaxInFlight)
		}
		b.checkCapacity(ch, p)
	}
}

// checkCapacity checks max_concurrent_calls and stream_share.
func (b *Backend) checkCapacity(ch *checker, p string) {
	switch {
	case b.MaxConcurrentCalls <= 0:
		ch.failf(p+".max_concurrent_calls", "must be positive, got %d", b.MaxConcurrentCalls)
	case !(b.StreamShare > 0 && b.StreamShare <= 1):
		ch.failf(p+".stream_share", "must be more than 0 and at most 1, got %g", b.StreamShare)
	case b.MaxStreams() < 1:
		ch.failf(p+".stream_share", "%g of max_concurrent_calls %d leaves no room for a stream", b.StreamShare, b.MaxConcurrentCalls)
	}
}

// MaxStreams is the number of streaming calls an instance may carry at once:
// stream_share of max_concurrent_calls, rounded down.
func (b *Backend) MaxStreams() int {
	return int(b.StreamShare * float64(b.MaxConcurrentCalls))
}

func (b *Backend) checkAddresses(ch *checker, p string) {
	if b.Address != "" && len(b.Addresses) > 0 {
		ch.failf(p+".addresses", "set either address or addresses, not both")
	}
	seen := map[string]int{}
	for k, a := range b.Addresses {
		ap := fmt.Sprintf("%s.addresses[%d]", p, k)
		if !validHostPort(a) {
			ch.failf(ap, "%q is not host:port with a port from 1 to 65535", a)
		}
		if j, dup := seen[a]; dup {
			ch.failf(ap, "%q duplicates %s.addresses[%d]", a, p, j)
		} else {
			seen[a] = k
		}
	}
}

func (t *BackendTLS) check(ch *checker, p string) {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" {
			ch.failf(p+".enabled", "is false, but other tls keys are set: set it to true, or remove them")
		}
		return
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		ch.failf(p+".cert_file", "cert_file and key_file go together: set both for mTLS, or neither")
	}
}

func (r *BackendRetry) check(ch *checker, p string) {
	if r.MaxAttempts < 0 || r.MaxAttempts > 5 {
		ch.failf(p+".max_attempts", "must be from 0 or 1 (no retries) to 5, got %d", r.MaxAttempts)
	}
	if r.MaxAttempts <= 1 {
		return
	}
	ch.positive(p+".initial_backoff", r.InitialBackoff)
	if r.MaxBackoff < r.InitialBackoff {
		ch.failf(p+".max_backoff", "must be at least initial_backoff (%s), got %s", r.InitialBackoff, r.MaxBackoff)
	}
	if r.BackoffMultiplier < 1 {
		ch.failf(p+".backoff_multiplier", "must be at least 1, got %g", r.BackoffMultiplier)
	}
	if len(r.RetryableCodes) == 0 {
		ch.failf(p+".retryable_codes", "must list at least one code when max_attempts is more than 1")
	}
	for k, name := range r.RetryableCodes {
		if c, ok := ParseCode(name); !ok || c == codes.OK {
			ch.failf(fmt.Sprintf("%s.retryable_codes[%d]", p, k), "%q is not a gRPC code name other than OK, like \"UNAVAILABLE\"", name)
		}
	}
	if r.ThrottleMaxTokens < 1 || r.ThrottleMaxTokens > 1000 {
		ch.failf(p+".throttle_max_tokens", "must be from 1 to 1000, got %g", r.ThrottleMaxTokens)
	}
	if r.ThrottleTokenRatio <= 0 {
		ch.failf(p+".throttle_token_ratio", "must be positive, got %g", r.ThrottleTokenRatio)
	}
}

func (b *BackendCircuitBreaker) check(ch *checker, p string) {
	if !b.Enabled {
		return
	}
	if b.FailureRatio <= 0 || b.FailureRatio > 1 {
		ch.failf(p+".failure_ratio", "must be more than 0 and at most 1, got %g", b.FailureRatio)
	}
	if b.MinRequests < 1 {
		ch.failf(p+".min_requests", "must be positive, got %d", b.MinRequests)
	}
	ch.positive(p+".window", b.Window)
	ch.positive(p+".open_timeout", b.OpenTimeout)
	if b.HalfOpenRequests < 1 {
		ch.failf(p+".half_open_requests", "must be positive, got %d", b.HalfOpenRequests)
	}
	ch.nonNegative(p+".slow_call_threshold", b.SlowCallThreshold)
}
