package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strings"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/server/validation"
)

// NewGRPCServer returns a gRPC server with the storefront's interceptor chain, on which register
// has registered the services to serve. It also registers the gRPC health service, reporting
// SERVING for every service register added and for "" (the server as a whole), and server
// reflection, so that tools such as grpcurl work without the .proto files.
//
// logger receives one record per finished call and one per recovered panic; nil discards them.
// identity verifies the identity the gateway forwards: with it, every call except health checks
// and reflection must carry a valid envelope (see package identity) or fails with
// UNAUTHENTICATED; nil accepts every call, for tests and for the -insecure-no-identity mode.
// opts are passed to grpc.NewServer after the interceptors.
func NewGRPCServer(logger *slog.Logger, identity *identity.Signer, register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) *grpc.Server {
	srv, _ := newGRPCServer(logger, identity, register, Fault{}, opts...)
	return srv
}

// newGRPCServer is NewGRPCServer with a test fault, which adds a last link to the chain when it
// is not the zero Fault. It also returns the health service, for Storefront.Shutdown to drain.
func newGRPCServer(logger *slog.Logger, identity *identity.Signer, register func(grpc.ServiceRegistrar), fault Fault, opts ...grpc.ServerOption) (*grpc.Server, *drainingHealth) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	recoveryOpt := recovery.WithRecoveryHandlerContext(recoverPanic(logger))
	callLogger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		logger.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	logOpt := logging.WithLogOnEvents(logging.FinishCall)
	validator := protovalidate.GlobalValidator

	// The chain, outermost first. The same links in the same order for unary and stream calls.
	unary := []grpc.UnaryServerInterceptor{
		// recovery: a panic anywhere below becomes INTERNAL with a generic message; the
		// panic and its stack are logged, never sent.
		recovery.UnaryServerInterceptor(recoveryOpt),
		// logging: one record per finished call with method, code and duration; health
		// checks, which gateways and orchestrators send every few seconds, are not logged.
		selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(callLogger, logOpt), notHealth),
	}
	stream := []grpc.StreamServerInterceptor{
		recovery.StreamServerInterceptor(recoveryOpt),
		selector.StreamServerInterceptor(logging.StreamServerInterceptor(callLogger, logOpt), notHealth),
	}
	if identity != nil {
		// auth: only calls that came through the gateway, with its signed identity, go on;
		// the identity is in the context for identity.FromContext. Health checks and
		// reflection need none.
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(identity.AuthFunc()), notHealthOrReflection))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(identity.AuthFunc()), notHealthOrReflection))
	}
	// validation: the buf.validate rules of the request, of a masked update only those of the
	// fields in its mask (package validation); violations become INVALID_ARGUMENT with a
	// google.rpc.BadRequest detail.
	unary = append(unary, validation.UnaryServerInterceptor(validator))
	stream = append(stream, validation.StreamServerInterceptor(validator))
	if !fault.IsZero() {
		// test faults, only when configured: delay or fail the storefront's calls (never
		// health or reflection) after validation, right before the service.
		unary = append(unary, selector.UnaryServerInterceptor(fault.unary(logger), storefrontOnly))
		stream = append(stream, selector.StreamServerInterceptor(fault.stream(logger), storefrontOnly))
	}
	chain := []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...)}
	srv := grpc.NewServer(append(chain, opts...)...)
	register(srv)

	hs := newDrainingHealth()
	for name := range srv.GetServiceInfo() {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}

// notHealth selects every call except those to the gRPC health service.
var notHealth = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName
})

// notHealthOrReflection selects every call except those to the gRPC health service and to
// server reflection (grpc.reflection.v1 and v1alpha).
var notHealthOrReflection = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName && !strings.HasPrefix(c.Service, "grpc.reflection.")
})

// panicMessage is what a client sees of a panic.
const panicMessage = "internal error"

func recoverPanic(logger *slog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		// The handler runs in the deferred recover of the panicking goroutine, so the stack
		// still shows where the panic happened.
		logger.ErrorContext(ctx, "panic recovered",
			slog.String("grpc.method", method),
			slog.Any("panic", p),
			slog.String("stack", string(debug.Stack())))
		return status.Error(codes.Internal, panicMessage)
	}
}
