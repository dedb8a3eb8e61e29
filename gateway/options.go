package gateway

import (
	"log/slog"

	"google.golang.org/grpc"

	"github.com/archway-gateway/archway/gateway/telemetry"
)

// Option configures [New].
type Option func(*options)

type options struct {
	logger   *slog.Logger
	services map[string]RegisterFunc
	dialOpts []grpc.DialOption
	tel      *telemetry.Telemetry
}

// WithLogger sets the logger for the access log, errors and lifecycle events. By default,
// slog.Default() is used.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithService makes the REST handlers of the named gRPC service (its full name, such as
// "shop.billing.v1.InvoiceService") available to backends that list it in their services. By
// default, the gateway knows the storefront demo services only.
func WithService(name string, register RegisterFunc) Option {
	return func(o *options) { o.services[name] = register }
}

// WithDialOptions adds gRPC dial options to every backend connection, after the gateway's own
// (so they win). By default, none are added. Tests use it to dial in-memory listeners.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// WithTelemetry measures and traces every request and backend call with t: its HTTP middleware
// wraps the API handler and its dial options go on every backend connection, before those of
// WithDialOptions. The caller owns t and shuts it down after Close. By default, nothing is
// measured or traced.
func WithTelemetry(t *telemetry.Telemetry) Option {
	return func(o *options) { o.tel = t }
}
