package authn

import "time"

// The reasons a request fails authentication, as counted in archway_authn_failures_total.
const (
	ReasonMissing           = "missing"
	ReasonMalformed         = "malformed"
	ReasonExpired           = "expired"
	ReasonNotYetValid       = "not_yet_valid"
	ReasonBadAlgorithm      = "bad_algorithm"
	ReasonBadSignature      = "bad_signature"
	ReasonBadIssuer         = "bad_issuer"
	ReasonBadAudience       = "bad_audience"
	ReasonUnknownKey        = "unknown_key"
	ReasonBadAPIKey         = "bad_api_key"
	ReasonInsufficientScope = "insufficient_scope"
	ReasonTooManyFailures   = "too_many_failures"
)

// failure is a rejected credential: the reason for the metric and the message for the client.
type failure struct {
	reason string
	msg    string
	bearer bool // a bearer token was sent: the challenge says error="invalid_token"
	// invalidRequest is true for a credential sent where it is not accepted: the answer is 400
	// and the challenge says error="invalid_request".
	invalidRequest bool
	// retryAfter is set for a client that failed too often, and says when it may try again:
	// the answer is 429.
	retryAfter time.Duration
}

// tooManyFailures is the failure of a request whose client address failed to authenticate
// too often; it may try again after wait.
func tooManyFailures(wait time.Duration) *failure {
	return &failure{
		reason:     ReasonTooManyFailures,
		msg:        "too many failed authentications from this address; retry later",
		retryAfter: wait,
	}
}

func misplaced(msg string) *failure {
	return &failure{reason: ReasonMalformed, msg: msg, invalidRequest: true}
}

func tokenFailure(reason, msg string) *failure {
	return &failure{reason: reason, msg: msg, bearer: true}
}

// The failures of bearer tokens. Their messages are sent to clients: they name the problem and
// never quote the token or a library's error.
var (
	errMalformedHeader = tokenFailure(ReasonMalformed, `the Authorization header must be "Bearer <token>"`)
	errMalformedToken  = tokenFailure(ReasonMalformed, "the bearer token is not a well-formed signed JWT")
	errNoExpiry        = tokenFailure(ReasonMalformed, "the bearer token has no expiry (exp)")
	errNoSubject       = tokenFailure(ReasonMalformed, "the bearer token has no subject (sub)")
	errBadClaims       = tokenFailure(ReasonMalformed, "the bearer token's claims are malformed")
	errNotNumericDate  = tokenFailure(ReasonMalformed, "the bearer token's exp, nbf and iat must be numbers of seconds (NumericDate)")
	errCritical        = tokenFailure(ReasonMalformed, "the bearer token names critical header extensions (crit), which are not supported")
	errExpired         = tokenFailure(ReasonExpired, "the bearer token has expired")
	errNotYetValid     = tokenFailure(ReasonNotYetValid, "the bearer token is not valid yet")
	errUnsigned        = tokenFailure(ReasonBadAlgorithm, "the bearer token is not signed")
	errAlgorithm       = tokenFailure(ReasonBadAlgorithm, "the bearer token's signing algorithm is not accepted")
	errAlgorithmForKey = tokenFailure(ReasonBadAlgorithm, "the bearer token's signing algorithm does not match its key")
	errSignature       = tokenFailure(ReasonBadSignature, "the bearer token's signature is not valid")
	errIssuer          = tokenFailure(ReasonBadIssuer, "the bearer token's issuer is not accepted")
	errAudience        = tokenFailure(ReasonBadAudience, "the bearer token's audience is not accepted")
	errUnknownKey      = tokenFailure(ReasonUnknownKey, "the bearer token is signed with an unknown key")
	errBothCredentials = tokenFailure(ReasonMalformed, "send either a bearer token or an API key, not both")

	errManyCredentials = tokenFailure(ReasonMalformed, "send one credential, in one place: a bearer token or an API key")

	errNotStreamQuery = misplaced("a credential in the query (access_token, api_key) is accepted only on streaming requests: " +
		"Server-Sent Events and WebSocket upgrades; send it in a header")
	errNotStreamProtocol = misplaced("a credential in Sec-WebSocket-Protocol is accepted only on a WebSocket upgrade of a streaming route")
	errNoArchwayProtocol = misplaced("offer the \"" + WebSocketProtocol + "\" subprotocol next to the credential")

	errAPIKey = &failure{reason: ReasonBadAPIKey, msg: "the API key is not valid"}
)
