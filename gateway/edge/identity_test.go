package edge_test

import (
	"testing"

	"github.com/archway-gateway/archway/gateway/edge"
)

func TestIdentityKeyNamesIssuerAndSubject(t *testing.T) {
	t.Parallel()
	ids := []edge.Identity{
		{Kind: "jwt", Issuer: "https://a.example/", Subject: "alice"},
		{Kind: "jwt", Issuer: "https://b.example/", Subject: "alice"},
		// The issuer's end cannot be moved into the subject.
		{Kind: "jwt", Issuer: "https://a.example/al", Subject: "ice"},
		{Kind: "api_key", Subject: "alice"},
		{Kind: "jwt", Subject: "alice"},
	}
	seen := map[string]edge.Identity{}
	for _, id := range ids {
		k := id.Key()
		if other, dup := seen[k]; dup {
			t.Errorf("%+v and %+v have the same key %q", id, other, k)
		}
		seen[k] = id
	}
	// Client id and scopes are not part of who the caller is.
	a := edge.Identity{Kind: "jwt", Issuer: "https://a.example/", Subject: "alice", ClientID: "web", Scopes: []string{"x"}}
	if a.Key() != ids[0].Key() {
		t.Errorf("Key depends on the client id or scopes: %q, %q", a.Key(), ids[0].Key())
	}
}
