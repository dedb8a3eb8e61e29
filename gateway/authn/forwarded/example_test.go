package forwarded_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/archway-gateway/archway/gateway/authn/forwarded"
)

// The gateway signs the caller onto a call; the backend verifies the envelope against the method
// it serves, once. Interceptors do both in practice: UnaryClientInterceptor and Signer.AuthFunc.
func ExampleSigner() {
	secret := "a secret of at least 32 bytes, shared by gateway and backends"
	gateway, _ := forwarded.NewSigner(secret)
	backend, _ := forwarded.NewSigner(secret)

	const method = "/storefront.users.v1.UserService/GetUser"
	env, sig := gateway.Sign(method, forwarded.Identity{Subject: "ada", Scopes: []string{"users.read"}, Kind: "jwt"})

	id, err := backend.Verify(method, env, sig)
	fmt.Println(id.Subject, id.Scopes, id.Kind, err)

	_, err = backend.Verify("/storefront.users.v1.UserService/DeleteUser", env, sig)
	fmt.Println(err)

	// An envelope is good for one call: the same one again is a replay.
	_, err = backend.Verify(method, env, sig)
	fmt.Println(err)
	// Output:
	// ada [users.read] jwt <nil>
	// forwarded identity: bad signature
	// forwarded identity: replayed
}

// A backend verifies the identity the gateway signed with go-grpc-middleware's auth interceptor
// and Signer.AuthFunc, skipping health checks and reflection, and its handlers read the verified
// identity from their context. (Not run: it needs the secret the gateway shares.)
func ExampleSigner_AuthFunc() {
	signer, err := forwarded.NewSigner(os.Getenv("STOREFRONT_IDENTITY_SECRET")) // ≥ 32 bytes
	if err != nil {
		log.Fatal(err)
	}
	notHealthOrReflection := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName && !strings.HasPrefix(c.Service, "grpc.reflection.")
	})
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(
			selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(signer.AuthFunc()), notHealthOrReflection),
		),
	)
	defer srv.Stop()
	// The link puts the verified identity in the handler's context, as NewContext does here.
	fmt.Println(subject(forwarded.NewContext(context.Background(), forwarded.Identity{Subject: "ada"})))
}

// subject is what a handler of the backend reads of the caller.
func subject(ctx context.Context) string {
	id, _ := forwarded.IdentityFrom(ctx) // in the handler: id.Issuer, id.Subject, id.Scopes, id.Anonymous()
	return id.Subject
}
