package authn

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Option configures [New].
type Option func(*options)

type options struct {
	registerer prometheus.Registerer
	logger     *slog.Logger
	now        func() time.Time
	client     *http.Client
	minRefetch time.Duration
}

// DefaultMinRefetchInterval is the least time between two fetches of an issuer's keys caused by
// tokens naming unknown keys, unless [WithMinRefetchInterval] says otherwise.
const DefaultMinRefetchInterval = 30 * time.Second

// jwksTimeout bounds one fetch of a key set by the default HTTP client.
const jwksTimeout = 10 * time.Second

func defaultOptions() options {
	return options{
		logger:     slog.Default(),
		now:        time.Now,
		client:     &http.Client{Timeout: jwksTimeout},
		minRefetch: DefaultMinRefetchInterval,
	}
}

// WithRegisterer registers the package's metrics, archway_authn_failures_total{reason} and
// archway_authn_jwks_fetch_failures_total{issuer}, with r. By default, metrics are counted but
// not registered.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(o *options) { o.registerer = r }
}

// WithLogger sets the logger for key set fetches that fail. By default, slog.Default() is used.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClock sets the clock against which tokens' "exp" and "nbf" are checked and key fetches
// are rate limited. By default, time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithHTTPClient sets the client that fetches key sets from jwks_url. By default, an
// http.Client with a 10 second timeout.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) {
		if c != nil {
			o.client = c
		}
	}
}

// WithMinRefetchInterval sets the least time between two fetches of an issuer's keys caused by
// tokens that name an unknown key; it keeps callers from making the gateway hammer the issuer.
// Negative values are ignored. By default, [DefaultMinRefetchInterval] (30 seconds).
func WithMinRefetchInterval(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.minRefetch = d
		}
	}
}
