package forwarded

import (
	"context"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type identityKey struct{}

// NewContext returns a copy of ctx that carries id, as [Signer.AuthFunc] does.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity that [Signer.AuthFunc] verified for the call whose context
// is ctx, and false when there is none (the auth interceptor did not run, as for health
// checks). An anonymous caller's identity is returned with true; see [Identity.Anonymous].
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Messages of the UNAUTHENTICATED errors AuthFunc returns: they say what is wrong, never why
// in detail.
const (
	msgMissing = "this service accepts calls only through the Archway gateway"
	msgInvalid = "the forwarded identity is not valid"
)

// AuthFunc returns the auth function for go-grpc-middleware's auth interceptors
// (auth.UnaryServerInterceptor and auth.StreamServerInterceptor). It verifies the call's
// envelope against the called method and puts the identity in the context, for
// [IdentityFrom]. A call without exactly one envelope and one signature, or whose envelope
// does not verify, fails with UNAUTHENTICATED.
func (s *Signer) AuthFunc() auth.AuthFunc {
	return func(ctx context.Context) (context.Context, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		envs, sigs := md.Get(MetadataKey), md.Get(SignatureKey)
		if len(envs) == 0 || len(sigs) == 0 {
			return nil, status.Error(codes.Unauthenticated, msgMissing)
		}
		if len(envs) != 1 || len(sigs) != 1 {
			return nil, status.Error(codes.Unauthenticated, msgInvalid)
		}
		method, _ := grpc.Method(ctx)
		id, err := s.Verify(method, envs[0], sigs[0])
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, msgInvalid)
		}
		return NewContext(ctx, id), nil
	}
}

// Source returns the identity to forward on an outgoing call, and false when the caller is
// anonymous.
type Source func(ctx context.Context) (Identity, bool)

// UnaryClientInterceptor signs the identity that from finds in each call's context (an
// anonymous one when it finds none) and sets the envelope and its signature as the call's
// outgoing metadata, replacing any values already there.
func UnaryClientInterceptor(s *Signer, from Source) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(s.attach(ctx, method, from), method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor is the stream twin of [UnaryClientInterceptor].
func StreamClientInterceptor(s *Signer, from Source) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(s.attach(ctx, method, from), desc, cc, method, opts...)
	}
}

// attach returns ctx with the signed envelope of from's identity set in its outgoing metadata.
func (s *Signer) attach(ctx context.Context, method string, from Source) context.Context {
	id, ok := from(ctx)
	if !ok {
		id = Identity{}
	}
	env, sig := s.Sign(method, id)
	// FromOutgoingContext returns a copy, which is ours to change.
	md, ok := metadata.FromOutgoingContext(ctx)
	if !ok {
		md = make(metadata.MD, 2)
	}
	md.Set(MetadataKey, env)
	md.Set(SignatureKey, sig)
	return metadata.NewOutgoingContext(ctx, md)
}
