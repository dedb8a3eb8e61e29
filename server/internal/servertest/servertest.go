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

	"github.com/archway-gateway/archway/server"
)

// Dial serves the services that register registers on a server.NewGRPCServer over bufconn and
// returns a client connection to it. The server's logs go to the test's output. Everything is
// closed when the test ends.
func Dial(t testing.TB, register func(grpc.ServiceRegistrar)) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := server.NewGRPCServer(logger, nil, register)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
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
