package ipfilter

import "github.com/prometheus/client_golang/prometheus"

// Option configures a [Filter].
type Option func(*options)

type options struct {
	registerer prometheus.Registerer
}

// WithRegisterer registers the filter's metrics with reg: the counter
// archway_ipfilter_denied_total{class}, where class is "global" for the global lists and the
// class name otherwise. By default, the metrics are not registered.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.registerer = reg }
}
