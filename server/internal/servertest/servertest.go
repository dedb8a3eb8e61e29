package servertest

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/server"
)

// Admin is the identity that a call through a connection from Dial carries when its context
// holds none (see As): an administrator with every scope of the storefront APIs.
var Admin = identity.Identity{
	Subject:  "admin",
	ClientID: "servertest",
	Scopes:   []string{"users.read", "users.write", "users.admin", "orders.write", "orders.admin", "catalog.write"},
	Kind:     "api_key",
}

// As returns a copy of ctx in which a call through a connection from Dial carries id, such as
// identity.Identity{Subject: "ada-lovelace", Scopes: []string{"orders.write"}}, or the zero
// Identity for an anonymous caller.
func As(ctx context.Context, id identity.Identity) context.Context {
	return identity.NewContext(ctx, id)
}

// identitySecret is the secret with which Dial's connections sign identities and its servers
// verify them.
const identitySecret = "servertest-identity-secret-0123456789abcdef"

// Dial serves the services that register registers on a server.NewGRPCServer over bufconn and
// returns a client connection to it. The server verifies the caller's identity, as behind the
// gateway, and the connection signs one onto every call: the identity of As, or Admin. A
// service that calls another with the caller's context through a connection from Dial forwards
// its caller. The server's logs go to the test's output. Everything is closed when the test
// ends.
func Dial(t testing.TB, register func(grpc.ServiceRegistrar)) *grpc.ClientConn {
	t.Helper()
	signer, err := identity.NewSigner(identitySecret)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := server.NewGRPCServer(logger, signer, register)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptor(signer, callerOrAdmin)),
		grpc.WithChainStreamInterceptor(identity.StreamClientInterceptor(signer, callerOrAdmin)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return conn
}

// callerOrAdmin returns the identity of As in ctx, or Admin.
func callerOrAdmin(ctx context.Context) (identity.Identity, bool) {
	if id, ok := identity.FromContext(ctx); ok {
		return id, true
	}
	return Admin, true
}

// Code fails the test unless err is a gRPC status error with code want.
func Code(t testing.TB, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("error = %v, want code %v", err, want)
	}
}

// Violations fails the test unless err is INVALID_ARGUMENT with a google.rpc.BadRequest detail,
// and returns the detail's field violations as field → description.
func Violations(t testing.TB, err error) map[string]string {
	t.Helper()
	Code(t, err, codes.InvalidArgument)
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			out := make(map[string]string, len(br.GetFieldViolations()))
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = v.GetDescription()
			}
			return out
		}
	}
	t.Fatalf("error %v has no google.rpc.BadRequest detail", err)
	return nil
}

// Precondition fails the test unless err is FAILED_PRECONDITION with a
// google.rpc.PreconditionFailure detail, and returns the type of its first violation.
func Precondition(t testing.TB, err error) string {
	t.Helper()
	Code(t, err, codes.FailedPrecondition)
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.GetViolations()) > 0 {
			return pf.GetViolations()[0].GetType()
		}
	}
	t.Fatalf("error %v has no google.rpc.PreconditionFailure detail", err)
	return ""
}
