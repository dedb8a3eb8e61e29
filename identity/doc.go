// Package identity carries the caller's identity from the Archway gateway to the gRPC backends
// behind it, and lets a backend accept only calls that came through the gateway. It is what a
// backend imports to verify the gateway's signature, and what the gateway signs with: one
// definition of the format for both sides. It imports nothing of the gateway.
//
// The gateway authenticates HTTP clients (bearer tokens, API keys) at the edge; a backend cannot
// see those credentials and should not have to verify them again. Instead, every call the
// gateway makes carries a signed envelope in two metadata entries:
//
//	x-archway-identity:     v1.<base64url of a JSON object>
//	x-archway-identity-sig: <base64url of HMAC-SHA256(secret, "archway-identity\n" + method + "\n" + envelope)>
//
// The JSON object holds the subject ("sub"), the client id ("cid"), the scopes ("scp"), how the
// caller authenticated ("knd": "jwt" or "api_key"), the issuer of the caller's token ("iss"; a
// subject is unique only within its issuer), the id of the request the call is made for
// ("rid"), a nonce ("jti") and when the envelope was made ("iat", Unix seconds). Anonymous
// callers get an envelope too, with an empty subject, so that a backend can refuse every call
// that did not come through the gateway. docs/identity.md in the repository specifies the
// format, with test vectors (testdata/vectors.json), for backends written in other languages.
//
// An envelope is good for one call, and for seconds:
//   - the signature covers the gRPC method (such as "/acme.inventory.v1.WarehouseService/GetWarehouse"),
//     so an envelope captured on the way to one method cannot be used for another;
//   - the call's x-request-id metadata must be the request id the envelope was signed for;
//   - it expires after a short maximum age plus the allowed clock skew (5 and 2 seconds by
//     default, see [WithMaxAge] and [WithClockSkew]);
//   - [Signer.Verify] remembers the nonce of every envelope it accepts until the envelope
//     expires, and refuses the same nonce again: a captured envelope cannot be replayed, even
//     to the same method within its lifetime. The replay cache is bounded
//     ([WithReplayCacheSize]); when it is full of unexpired nonces, Verify refuses, it does not
//     forget.
//
// Each backend process verifies with its own replay cache, so an envelope is accepted at most
// once by each replica of a backend: the signature binds it to the method, not to one replica.
//
// Both sides share one secret of at least [MinSecretLen] bytes. The gateway signs with
// [Signer.Sign], or with the client interceptors [UnaryClientInterceptor] and
// [StreamClientInterceptor], which sign every attempt of a call (a retry too) with an envelope
// of its own, as per-RPC credentials, and drop any envelope already in the call's metadata. A
// backend verifies with [Signer.AuthFunc], the auth function of go-grpc-middleware's auth
// interceptors, and reads the caller with [FromContext]; the example of [Signer.AuthFunc] wires
// a server:
//
//	signer, err := identity.NewSigner(os.Getenv("IDENTITY_SECRET")) // the gateway's authn.identity_secret
//	...
//	grpc.NewServer(grpc.ChainUnaryInterceptor(
//		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(signer.AuthFunc()), notHealth),
//	))
//
// A backend that calls another backend forwards the identity it received with the same client
// interceptors and [FromContext] as the source.
package identity
