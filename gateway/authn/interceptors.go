package authn

import (
	"context"

	"google.golang.org/grpc"

	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/identity"
)

// UnaryClientInterceptor signs the identity of the request that a call is made for (from
// edge.StateFrom(ctx).Identity(); an anonymous identity when there is none), with the request's
// id, onto each attempt of the call, as the metadata x-archway-identity and
// x-archway-identity-sig (see identity.UnaryClientInterceptor). Any values of those keys already
// in the outgoing metadata are dropped. Add it to every backend ClientConn, so that composite
// sub-calls carry the identity too, each with an envelope of its own.
func UnaryClientInterceptor(s *identity.Signer) grpc.UnaryClientInterceptor {
	return identity.UnaryClientInterceptor(s, requestIdentity)
}

// StreamClientInterceptor is the stream twin of [UnaryClientInterceptor].
func StreamClientInterceptor(s *identity.Signer) grpc.StreamClientInterceptor {
	return identity.StreamClientInterceptor(s, requestIdentity)
}

// requestIdentity is the identity.Source of the gateway: the identity authentication recorded
// in the request's state, anonymous when it recorded none, with the request's id.
func requestIdentity(ctx context.Context) (identity.Identity, bool) {
	st := edge.StateFrom(ctx)
	if st == nil {
		return identity.Identity{}, false
	}
	id, _ := st.Identity()
	return identity.Identity{
		Subject:   id.Subject,
		ClientID:  id.ClientID,
		Scopes:    id.Scopes,
		Kind:      id.Kind,
		Issuer:    id.Issuer,
		RequestID: st.RequestID(),
	}, true
}
