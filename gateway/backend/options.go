package backend

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Option configures [Dial].
type Option func(*options)

type options struct {
	logger      *slog.Logger
	registerer  prometheus.Registerer
	dialOptions []grpc.DialOption
}

func newOptions(opts []Option) *options {
	o := &options{logger: slog.Default()}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// WithLogger sets the logger of backend calls (at debug level) and of circuit breaker
// transitions (at warn level for opening, info otherwise). By default, slog.Default() is used.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithRegisterer registers the backends' metrics: archway_backend_breaker_state,
// archway_backend_breaker_transitions_total, archway_backend_in_flight and
// archway_backend_rejected_total, each labelled by backend. By default, metrics are not
// registered.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(o *options) { o.registerer = r }
}

// WithDialOptions adds options to every backend's ClientConn, after the backend's own (so their
// interceptors run inside the in-flight limit and the breaker). By default, none are added.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}
