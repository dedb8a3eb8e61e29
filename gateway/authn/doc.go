// Package authn is the gateway's authentication edge function: it verifies the caller's
// credentials, records the caller's identity in the request's [edge.State], enforces the
// route's "authenticated" access and scopes, and signs that identity onto every backend call.
//
// # Credentials
//
// A caller sends one of:
//
//   - a bearer token, "Authorization: Bearer <JWT>", signed by a configured issuer with RS256,
//     ES256, EdDSA or HS256. The keys come from a JWKS file or URL, refreshed periodically and
//     on a token naming an unknown key ("kid"), at most once per interval. "iss", "aud", "exp"
//     and "nbf" are checked with a small clock skew; "exp", "nbf" and "iat" must be numbers
//     (RFC 7519 NumericDate), and a token whose header names critical extensions ("crit") is
//     refused, since the gateway supports none. Each key is bound to one algorithm (its
//     "alg", else its key type), so "alg": "none" and algorithm confusion (an HS256 token
//     "signed" with an RSA public key's bytes) never verify. Scopes come from "scope" (a
//     space-separated string) or "scp" (a list); the subject from "sub", unique within the
//     issuer "iss" (the identity carries both: see edge.Identity.Key); the client id from
//     "client_id" or "azp".
//   - an API key in a header (X-Api-Key by default), looked up by its SHA-256 among the
//     configured keys in constant time. The key's client id is both subject and client id.
//
// # Browsers' streams
//
// A browser's EventSource sends no headers of the page's choosing, and its WebSocket only
// Sec-WebSocket-Protocol. For those requests, and only when authn.stream_credentials enables
// it, the credential may travel elsewhere:
//
//   - as a subprotocol of a WebSocket upgrade to a client-streaming or bidirectional route:
//     the page offers [WebSocketProtocol] ("archway.v1") and "archway.bearer.<token>" or
//     "archway.apikey.<key>"; the entry is removed from the header before the upgrade, so the
//     gateway selects "archway.v1" and never echoes the credential;
//   - as the query parameter "access_token" (RFC 6750, section 2.3) or "api_key" of a request
//     for Server-Sent Events to a server-streaming route, or of a WebSocket upgrade.
//
// Whether a route streams is read from its method's descriptor, which the gateway links in
// (protoregistry.GlobalFiles). The credential is removed from the request that the middleware
// passes on, so neither grpc-gateway's query parsing nor the backend sees it; the request that
// the access log holds keeps it, and the log redacts it. A credential in the query or a
// subprotocol of any other request is refused with 400 INVALID_ARGUMENT
// (error="invalid_request"), and a request may carry one credential only, in one place.
//
// # Decisions
//
// [Authenticator.Middleware] runs after routing has put the route's policy in the context
// (policy.FromContext); requests without a policy pass untouched. Credentials that are sent are
// always verified, on public routes too: bad ones answer 401 UNAUTHENTICATED with
// WWW-Authenticate: Bearer realm="archway", error="invalid_token" (RFC 6750). A route that is
// authenticated answers 401 without credentials, and 403 PERMISSION_DENIED with
// error="insufficient_scope" when the caller lacks one of its scopes. Messages say what is wrong
// ("the bearer token has expired") and never repeat the token or a library's error text.
// Failures are counted in archway_authn_failures_total{reason}. A client address that failed
// more often than authn.failed_attempts allows gets 429 RESOURCE_EXHAUSTED with Retry-After for
// any request carrying a credential, which is then not checked.
//
// # Forwarded identity
//
// [UnaryClientInterceptor] and [StreamClientInterceptor] sign the identity of the request (or
// an anonymous one) onto every backend call, as package identity (the top-level package
// github.com/archway-gateway/archway/identity, which backends import to verify it) and
// docs/identity.md describe.
package authn
