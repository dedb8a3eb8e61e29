package backend_test

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/archway-gateway/archway/gateway/backend"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

const (
	usersService = "storefront.users.v1.UserService"
	getUser      = "/storefront.users.v1.UserService/GetUser"
	// waitFor bounds every poll in these tests.
	waitFor = 10 * time.Second
)

// fakeUsers serves GetUser and CreateUser, answering with its name as the display name so that
// a test sees which instance served a call. behave, when set, runs first with the number of the
// call (from 1) and may fail it or hold it.
type fakeUsers struct {
	usersv1.UnimplementedUserServiceServer
	name   string
	calls  atomic.Int64
	behave func(ctx context.Context, n int64) error
}

func (f *fakeUsers) serve(ctx context.Context, name string) (*usersv1.User, error) {
	n := f.calls.Add(1)
	if f.behave != nil {
		if err := f.behave(ctx, n); err != nil {
			return nil, err
		}
	}
	return &usersv1.User{Name: name, DisplayName: f.name}, nil
}

func (f *fakeUsers) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.User, error) {
	return f.serve(ctx, req.GetName())
}

func (f *fakeUsers) CreateUser(ctx context.Context, _ *usersv1.CreateUserRequest) (*usersv1.User, error) {
	return f.serve(ctx, "users/new")
}

// instance is one in-process backend on a loopback listener.
type instance struct {
	addr   string
	users  *fakeUsers
	health *health.Server
}

// startInstance serves fakeUsers and gRPC health (SERVING) on 127.0.0.1:0 until the test ends.
func startInstance(t *testing.T, name string, behave func(context.Context, int64) error, opts ...grpc.ServerOption) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	in := &instance{addr: ln.Addr().String(), users: &fakeUsers{name: name, behave: behave}, health: health.NewServer()}
	usersv1.RegisterUserServiceServer(srv, in.users)
	healthpb.RegisterHealthServer(srv, in.health)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return in
}

// usersSpec is a users backend over the static list addrs, with every resilience feature off.
func usersSpec(addrs ...string) backend.Spec {
	return backend.Spec{
		Name:                "users",
		Addresses:           addrs,
		Services:            []string{usersService},
		MaxReconnectBackoff: 200 * time.Millisecond,
	}
}

// dialUsers dials spec and returns a users client of it; the connection closes when the test
// ends.
func dialUsers(t *testing.T, spec backend.Spec, opts ...backend.Option) usersv1.UserServiceClient {
	t.Helper()
	opts = append([]backend.Option{backend.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	set, err := backend.Dial([]backend.Spec{spec}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	b, ok := set.ForService(usersService)
	if !ok {
		t.Fatal("no backend for the users service")
	}
	return usersv1.NewUserServiceClient(b.Conn)
}

// poll calls cond until it reports true or waitFor passes, and returns whether it did.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
