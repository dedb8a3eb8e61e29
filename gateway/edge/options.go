package edge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ShedderOption configures a [Shedder].
type ShedderOption func(*shedderOptions)

type shedderOptions struct {
	reg               prometheus.Registerer
	retryAfterSeconds int
	exempt            []string
}

// WithShedderRegisterer registers the shedder's metrics with reg:
// archway_edge_shed_requests_total and archway_edge_in_flight_requests. By default the metrics
// are not registered.
func WithShedderRegisterer(reg prometheus.Registerer) ShedderOption {
	return func(o *shedderOptions) { o.reg = reg }
}

// WithRetryAfter sets the delay that shed requests are told to wait in Retry-After, rounded up
// to whole seconds (at least 1). By default 1s.
func WithRetryAfter(d time.Duration) ShedderOption {
	return func(o *shedderOptions) {
		o.retryAfterSeconds = max(1, int((d+time.Second-1)/time.Second))
	}
}

// WithExemptPaths exempts requests for these exact URL paths from the limit: they are neither
// counted nor shed. A liveness probe path belongs here, so that an overloaded gateway is not
// also restarted by its orchestrator. By default no path is exempt.
func WithExemptPaths(paths ...string) ShedderOption {
	return func(o *shedderOptions) { o.exempt = append(o.exempt, paths...) }
}
