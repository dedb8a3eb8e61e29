package identity

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type identityKey struct{}

// NewContext returns a copy of ctx that carries id, as [Signer.AuthFunc] does.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity that [Signer.AuthFunc] verified for the call whose context
// is ctx, and false when there is none (the auth interceptor did not run, as for health
// checks). An anonymous caller's identity is returned with true; see [Identity.Anonymous].
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Messages of the errors AuthFunc returns: they say what is wrong, never why in detail.
const (
	msgMissing = "this service accepts calls only through the Archway gateway"
	msgInvalid = "the forwarded identity is not valid"
	msgBusy    = "too many calls to check the forwarded identity for replays; retry shortly"
)

// RequestIDKey is the metadata key of the request id, which the envelope is bound to.
const RequestIDKey = "x-request-id"

// AuthFunc returns the auth function for go-grpc-middleware's auth interceptors
// (auth.UnaryServerInterceptor and auth.StreamServerInterceptor). It verifies the call's
// envelope against the called method (see [Signer.Verify]: once, and while it is fresh), checks
// that the call's [RequestIDKey] metadata is the request id the envelope was signed for (none
// for none), and puts the identity in the context, for [FromContext]. A call without exactly
// one envelope and one signature, with several request ids, or whose envelope does not verify
// or was seen before, fails with UNAUTHENTICATED; a call that cannot be checked for a replay
// because the replay cache is full fails with UNAVAILABLE.
func (s *Signer) AuthFunc() auth.AuthFunc {
	return func(ctx context.Context) (context.Context, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		envs, sigs, rids := md.Get(MetadataKey), md.Get(SignatureKey), md.Get(RequestIDKey)
		if len(envs) == 0 || len(sigs) == 0 {
			return nil, status.Error(codes.Unauthenticated, msgMissing)
		}
		if len(envs) != 1 || len(sigs) != 1 || len(rids) > 1 {
			return nil, status.Error(codes.Unauthenticated, msgInvalid)
		}
		method, _ := grpc.Method(ctx)
		id, err := s.Verify(method, envs[0], sigs[0])
		switch {
		case errors.Is(err, ErrReplayCacheFull):
			return nil, status.Error(codes.Unavailable, msgBusy)
		case err != nil, id.RequestID != firstOrEmpty(rids):
			return nil, status.Error(codes.Unauthenticated, msgInvalid)
		}
		return NewContext(ctx, id), nil
	}
}

func firstOrEmpty(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// Source returns the identity to forward on an outgoing call, and false when it has none (the
// call is then signed for an anonymous caller).
type Source func(ctx context.Context) (Identity, bool)

// UnaryClientInterceptor signs the identity that from finds in each call's context (an
// anonymous one when it finds none) onto the call. It signs every attempt of the call on its
// own, retries included, as per-RPC credentials: each envelope has its own nonce, and a backend
// accepts it once. The call's metadata gets the request id of the identity as [RequestIDKey]
// (when the identity has none, the call's own single request id is signed); envelopes and
// signatures already in the outgoing metadata are dropped. Per-RPC credentials given as a call
// option still apply.
func UnaryClientInterceptor(s *Signer, from Source) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, opts = s.attach(ctx, method, from, opts)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor is the stream twin of [UnaryClientInterceptor].
func StreamClientInterceptor(s *Signer, from Source) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, opts = s.attach(ctx, method, from, opts)
		return streamer(ctx, desc, cc, method, opts...)
	}
}

// attach returns ctx with the request id of from's identity in its outgoing metadata and
// without any envelope, and opts with the per-RPC credentials that sign each attempt.
func (s *Signer) attach(ctx context.Context, method string, from Source, opts []grpc.CallOption) (context.Context, []grpc.CallOption) {
	id, ok := from(ctx)
	if !ok {
		id = Identity{}
	}
	// FromOutgoingContext returns a copy, which is ours to change.
	md, ok := metadata.FromOutgoingContext(ctx)
	if !ok {
		md = make(metadata.MD, 1)
	}
	md.Delete(MetadataKey)
	md.Delete(SignatureKey)
	if rids := md.Get(RequestIDKey); id.RequestID == "" && len(rids) == 1 {
		id.RequestID = rids[0]
	}
	if id.RequestID != "" {
		md.Set(RequestIDKey, id.RequestID)
	} else {
		md.Delete(RequestIDKey)
	}
	creds := &signingCredentials{s: s, method: method, id: id}
	for _, o := range opts {
		if c, ok := o.(grpc.PerRPCCredsCallOption); ok {
			creds.inner = c.Creds
		}
	}
	// A fresh slice: opts may share its array with the caller's.
	return metadata.NewOutgoingContext(ctx, md), append(slices.Clip(opts), grpc.PerRPCCredentials(creds))
}

// signingCredentials sign one call's identity onto each of its attempts: grpc-go asks the
// per-RPC credentials for their metadata on every attempt, retries included.
type signingCredentials struct {
	s      *Signer
	method string
	id     Identity
	// inner are the per-RPC credentials the call was given, which these replace; nil if none.
	inner credentials.PerRPCCredentials
}

// GetRequestMetadata returns a fresh envelope and its signature, with the metadata of the
// inner credentials.
func (c *signingCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	md := make(map[string]string, 2)
	if c.inner != nil {
		inner, err := c.inner.GetRequestMetadata(ctx, uri...)
		if err != nil {
			return nil, err
		}
		maps.Copy(md, inner)
	}
	md[MetadataKey], md[SignatureKey] = c.s.Sign(c.method, c.id)
	return md, nil
}

// RequireTransportSecurity is the inner credentials' answer; false without them.
func (c *signingCredentials) RequireTransportSecurity() bool {
	return c.inner != nil && c.inner.RequireTransportSecurity()
}
