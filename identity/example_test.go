package identity_test

import (
	"context"
	"fmt"
	"net"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/archway-gateway/archway/identity"
)

// The gateway signs the caller onto a call; the backend verifies the envelope against the method
// it serves, once. Interceptors do both in practice: UnaryClientInterceptor and Signer.AuthFunc.
func ExampleSigner() {
	secret := "a secret of at least 32 bytes, shared by gateway and backends"
	gateway, _ := identity.NewSigner(secret)
	backend, _ := identity.NewSigner(secret)

	const method = "/acme.inventory.v1.WarehouseService/GetWarehouse"
	env, sig := gateway.Sign(method, identity.Identity{Subject: "ada", Scopes: []string{"warehouses.read"}, Kind: "jwt"})

	id, err := backend.Verify(method, env, sig)
	fmt.Println(id.Subject, id.Scopes, id.Kind, err)

	_, err = backend.Verify("/acme.inventory.v1.WarehouseService/DeleteWarehouse", env, sig)
	fmt.Println(err)

	// An envelope is good for one call: the same one again is a replay.
	_, err = backend.Verify(method, env, sig)
	fmt.Println(err)
	// Output:
	// ada [warehouses.read] jwt <nil>
	// identity: bad signature
	// identity: replayed
}

// A backend verifies the gateway's signed identity on every call except health checks, which
// the gateway and orchestrators send without one, and reads the caller in its handlers. The
// secret is the gateway's authn.identity_secret; read it from the environment.
func ExampleSigner_AuthFunc() {
	const secret = "a secret of at least 32 bytes, shared by gateway and backends"
	verifier, err := identity.NewSigner(secret)
	if err != nil {
		fmt.Println(err)
		return
	}
	notHealth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName
	})
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(verifier.AuthFunc()), notHealth)),
		grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(auth.StreamServerInterceptor(verifier.AuthFunc()), notHealth)),
	)
	srv.RegisterService(&whoAmIDesc, whoAmI{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	// The gateway's side, which signs every call with the same secret. A call that did not come
	// through the gateway carries no envelope.
	gateway, _ := identity.NewSigner(secret)
	ada := func(context.Context) (identity.Identity, bool) {
		return identity.Identity{Subject: "ada", Scopes: []string{"warehouses.read"}, Kind: "jwt", RequestID: "req-1"}, true
	}
	signed, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptor(gateway, ada)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = signed.Close() }()
	unsigned, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = unsigned.Close() }()

	for _, conn := range []*grpc.ClientConn{signed, unsigned} {
		var caller wrapperspb.StringValue
		if err := conn.Invoke(context.Background(), whoAmIMethod, &emptypb.Empty{}, &caller); err != nil {
			fmt.Println(status.Code(err), status.Convert(err).Message())
			continue
		}
		fmt.Println(caller.GetValue())
	}
	resp, err := healthpb.NewHealthClient(unsigned).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output:
	// ada [warehouses.read] req-1
	// Unauthenticated this service accepts calls only through the Archway gateway
	// SERVING <nil>
}

// whoAmI is a backend's service: it answers with the caller the gateway signed.
type whoAmI struct{}

// Get answers with the caller's subject, scopes and request id.
func (whoAmI) Get(ctx context.Context) (*wrapperspb.StringValue, error) {
	id, _ := identity.FromContext(ctx) // the auth interceptor guarantees one
	return wrapperspb.String(fmt.Sprint(id.Subject, " ", id.Scopes, " ", id.RequestID)), nil
}

// whoAmIServer is the server API of the WhoAmI service.
type whoAmIServer interface {
	Get(ctx context.Context) (*wrapperspb.StringValue, error)
}

// whoAmIMethod is the full name of the WhoAmI service's one method.
const whoAmIMethod = "/example.v1.WhoAmI/Get"

// whoAmIDesc describes the service by hand, as protoc-gen-go-grpc would from
//
//	service WhoAmI { rpc Get(google.protobuf.Empty) returns (google.protobuf.StringValue); }
var whoAmIDesc = grpc.ServiceDesc{
	ServiceName: "example.v1.WhoAmI",
	HandlerType: (*whoAmIServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Get",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(emptypb.Empty)); err != nil {
				return nil, err
			}
			get := func(ctx context.Context, _ any) (any, error) { return srv.(whoAmIServer).Get(ctx) }
			if interceptor == nil {
				return get(ctx, nil)
			}
			return interceptor(ctx, nil, &grpc.UnaryServerInfo{Server: srv, FullMethod: whoAmIMethod}, get)
		},
	}},
}
