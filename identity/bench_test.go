package identity_test

import (
	"strings"
	"testing"

	"github.com/archway-gateway/archway/identity"
)

// BenchmarkSign measures what every backend call pays for its signed identity.
func BenchmarkSign(b *testing.B) {
	s, err := identity.NewSigner(strings.Repeat("s", identity.MinSecretLen))
	if err != nil {
		b.Fatal(err)
	}
	id := identity.Identity{Subject: "ada", ClientID: "web", Scopes: []string{"users.read", "orders.write"}, Kind: "jwt"}
	b.ReportAllocs()
	for b.Loop() {
		if env, sig := s.Sign("/storefront.users.v1.UserService/GetUser", id); env == "" || sig == "" {
			b.Fatal("empty envelope or signature")
		}
	}
}
