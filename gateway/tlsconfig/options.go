package tlsconfig

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Option configures a [Server].
type Option func(*options)

type options struct {
	logger *slog.Logger
	reg    prometheus.Registerer
}

// WithLogger sets the logger that reports reloads and files that fail to load. By default,
// slog.Default() is used.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithRegisterer registers the server's metrics with reg: archway_tlsconfig_reloads_total
// (by result, "ok" or "error") and archway_tlsconfig_certificate_expiry_timestamp_seconds.
// By default the metrics are not registered.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.reg = reg }
}
