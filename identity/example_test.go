package identity_test

import (
	"fmt"

	"github.com/archway-gateway/archway/identity"
)

// The gateway signs the caller onto a call; the backend verifies the envelope against the method
// it serves, once. Interceptors do both in practice: UnaryClientInterceptor and Signer.AuthFunc.
func ExampleSigner() {
	secret := "a secret of at least 32 bytes, shared by gateway and backends"
	gateway, _ := identity.NewSigner(secret)
	backend, _ := identity.NewSigner(secret)

	const method = "/storefront.users.v1.UserService/GetUser"
	env, sig := gateway.Sign(method, identity.Identity{Subject: "ada", Scopes: []string{"users.read"}, Kind: "jwt"})

	id, err := backend.Verify(method, env, sig)
	fmt.Println(id.Subject, id.Scopes, id.Kind, err)

	_, err = backend.Verify("/storefront.users.v1.UserService/DeleteUser", env, sig)
	fmt.Println(err)

	// An envelope is good for one call: the same one again is a replay.
	_, err = backend.Verify(method, env, sig)
	fmt.Println(err)
	// Output:
	// ada [users.read] jwt <nil>
	// identity: bad signature
	// identity: replayed
}
