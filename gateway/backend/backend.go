package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
)

// Spec describes one backend to connect to. The zero values of the resilience fields turn each
// feature off: no health checks, no retries, no breaker, no in-flight limit, plaintext.
type Spec struct {
	// Name identifies the backend in logs, metrics and readiness reports.
	Name string
	// Target is the gRPC target, such as "127.0.0.1:9101" or "dns:///orders.internal:9090".
	// Leave it empty when Addresses is set.
	Target string
	// Addresses is a static list of instances ("10.0.0.7:9090"), used instead of Target.
	Addresses []string
	// Services are the full names of the gRPC services the backend serves.
	Services []string
	// MaxReconnectBackoff caps the wait between reconnection attempts. By default, 5s.
	MaxReconnectBackoff time.Duration
	// TLS configures TLS towards the backend; the zero value dials in plaintext.
	TLS TLS
	// HealthCheck turns gRPC client health checking on: calls go only to the instances whose
	// grpc.health.v1.Health reports SERVING for HealthCheckService ("" is the whole server).
	HealthCheck        bool
	HealthCheckService string
	// Retry is the retry policy of the methods listed in IdempotentMethods.
	Retry Retry
	// IdempotentMethods are the full names ("/pkg.Service/Method") of the methods that may be
	// retried.
	IdempotentMethods []string
	// Breaker configures the backend's circuit breaker.
	Breaker Breaker
	// MaxInFlight caps the calls and open streams to the backend at once; 0 means no limit.
	MaxInFlight int
	// MaxConcurrentCalls caps the calls and open streams on each instance's connection at
	// once; 0 means no limit. A call that no ready instance has room for is refused at once
	// (UNAVAILABLE with RetryInfo) instead of waiting inside grpc-go for one of the HTTP/2
	// streams the backend allows (its MAX_CONCURRENT_STREAMS), so it must not exceed that
	// number, less one for the health-check stream when HealthCheck is on.
	MaxConcurrentCalls int
	// MaxConcurrentStreams caps the streams among each instance's MaxConcurrentCalls, so that
	// long-lived streams leave the rest to unary calls; 0, or a value not below
	// MaxConcurrentCalls, keeps nothing apart.
	MaxConcurrentStreams int
}

// Backend is a connected backend.
type Backend struct {
	Spec
	// Conn is the backend's ClientConn, shared by every route and composite that calls it.
	Conn *grpc.ClientConn

	guard *guard
	rec   *recorder
}

// Set is the gateway's backends, addressable by the services they serve.
type Set struct {
	backends  []*Backend
	byService map[string]*Backend
}

// Dial creates a ClientConn for every spec. Connections are made lazily by gRPC, so Dial does not
// fail when a backend is down; it fails on a malformed target, unreadable TLS files, or a service
// claimed twice.
func Dial(specs []Spec, opts ...Option) (*Set, error) {
	o := newOptions(opts)
	m, err := newMetrics(o.registerer)
	if err != nil {
		return nil, fmt.Errorf("backend.Dial: registering metrics: %w", err)
	}
	s := &Set{byService: make(map[string]*Backend)}
	for _, spec := range specs {
		c := newCapacity(spec, m)
		b := &Backend{Spec: spec, guard: newGuard(spec, c, o.logger, m), rec: newRecorder(c)}
		conn, err := dial(b, o)
		if err != nil {
			recorders.Delete(b.rec.id)
			_ = s.Close()
			return nil, fmt.Errorf("backend.Dial: backend %q: %w", spec.Name, err)
		}
		b.Conn = conn
		s.backends = append(s.backends, b)
		for _, svc := range spec.Services {
			if other, dup := s.byService[svc]; dup {
				_ = s.Close()
				return nil, fmt.Errorf("backend.Dial: service %s is served by both %q and %q", svc, other.Name, spec.Name)
			}
			s.byService[svc] = b
		}
	}
	return s, nil
}

// dial creates the ClientConn of one backend.
func dial(b *Backend, o *options) (*grpc.ClientConn, error) {
	spec := b.Spec
	creds, err := transportCredentials(spec.TLS)
	if err != nil {
		return nil, err
	}
	sc, err := serviceConfig(spec, b.rec.id)
	if err != nil {
		return nil, err
	}
	target := spec.Target
	dopts := []grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithDefaultServiceConfig(sc)}
	if len(spec.Addresses) > 0 {
		r := staticResolver(spec)
		target = r.Scheme() + ":///" + spec.Name
		dopts = append(dopts, grpc.WithResolvers(r))
	}
	dopts = append(dopts, dialOptions(spec, o.logger, b.guard)...)
	return grpc.NewClient(target, append(dopts, o.dialOptions...)...)
}

func dialOptions(spec Spec, logger *slog.Logger, guard *guard) []grpc.DialOption {
	maxDelay := spec.MaxReconnectBackoff
	if maxDelay <= 0 {
		maxDelay = 5 * time.Second
	}
	bo := backoff.DefaultConfig
	bo.BaseDelay = 100 * time.Millisecond
	bo.MaxDelay = maxDelay
	log := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		logger.Log(ctx, slog.Level(lvl), msg, append(fields, slog.String("backend", spec.Name))...)
	})
	return []grpc.DialOption{
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: 5 * time.Second}),
		// The client chain, in order: the in-flight limit and the circuit breaker refuse a call
		// at once (503 with Retry-After) rather than queue it or send it to a failing backend;
		// then every finished call is logged at debug level, with its code and duration, so a
		// failing backend call can be traced from the gateway's side. Retries happen below the
		// chain, inside the ClientConn, so the chain sees one call however many attempts it took.
		grpc.WithChainUnaryInterceptor(
			guard.unary,
			unaryWhenDebug(logger, logging.UnaryClientInterceptor(log, logging.WithLevels(clientLevel))),
		),
		grpc.WithChainStreamInterceptor(
			guard.stream,
			streamWhenDebug(logger, logging.StreamClientInterceptor(log, logging.WithLevels(clientLevel))),
		),
	}
}

// unaryWhenDebug runs the logging interceptor only for calls made while the logger records
// debug messages, the only level it logs at. The interceptor builds its fields (method, start
// time, duration, code) for every call before the logger decides to drop the record, which
// costs a few percent of a proxied call's CPU.
func unaryWhenDebug(logger *slog.Logger, next grpc.UnaryClientInterceptor) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if !logger.Enabled(ctx, slog.LevelDebug) {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		return next(ctx, method, req, reply, cc, invoker, opts...)
	}
}

// streamWhenDebug is unaryWhenDebug for streams.
func streamWhenDebug(logger *slog.Logger, next grpc.StreamClientInterceptor) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if !logger.Enabled(ctx, slog.LevelDebug) {
			return streamer(ctx, desc, cc, method, opts...)
		}
		return next(ctx, desc, cc, method, streamer, opts...)
	}
}

// clientLevel logs backend calls at debug level, whatever their outcome: the gateway's access
// log already reports failures to clients, so these records are for tracing only.
func clientLevel(codes.Code) logging.Level { return logging.LevelDebug }

// ForService returns the backend that serves the named gRPC service.
func (s *Set) ForService(service string) (*Backend, bool) {
	b, ok := s.byService[service]
	return b, ok
}

// All returns every backend in configuration order.
func (s *Set) All() []*Backend { return s.backends }

// Close closes every connection.
func (s *Set) Close() error {
	var errs []error
	for _, b := range s.backends {
		recorders.Delete(b.rec.id)
		errs = append(errs, b.Conn.Close())
	}
	return errors.Join(errs...)
}
