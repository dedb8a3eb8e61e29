package authn

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/archway-gateway/archway/gateway/edge"
)

// issuer is one configured token issuer.
type issuer struct {
	audiences []string
	allowed   []jwa.SignatureAlgorithm
	keys      *keySource
}

// verifyToken checks a compact JWS bearer token and returns the caller it identifies. Before the
// signature is checked, the claims serve only to pick the issuer; they are trusted after.
func (a *Authenticator) verifyToken(ctx context.Context, token string) (edge.Identity, *failure) {
	if strings.Count(token, ".") != 2 {
		return edge.Identity{}, errMalformedToken
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		return edge.Identity{}, errMalformedToken
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg, ok := hdr.Algorithm()
	if !ok || alg.String() == jwa.NoSignature().String() || alg.String() == "" {
		return edge.Identity{}, errUnsigned
	}
	// The gateway understands no JWS extension, so a token that names any as critical must be
	// refused (RFC 7515, section 4.1.11). jws.Verify checks "crit" only when asked to.
	if hdr.Has(jws.CriticalKey) {
		return edge.Identity{}, errCritical
	}
	unverified, err := jwt.ParseInsecure([]byte(token))
	if err != nil {
		return edge.Identity{}, errMalformedToken
	}
	iss, _ := unverified.Issuer()
	is, ok := a.issuers[iss]
	if !ok {
		return edge.Identity{}, errIssuer
	}
	if !containsAlg(is.allowed, alg) {
		return edge.Identity{}, errAlgorithm
	}
	kid, _ := hdr.KeyID()
	key, ok := is.keys.keys.Load().lookup(kid, alg)
	if !ok {
		is.keys.refetch(ctx)
		key, ok = is.keys.keys.Load().lookup(kid, alg)
	}
	if !ok {
		return edge.Identity{}, errUnknownKey
	}
	// The key is bound to one algorithm: a token naming another (an HS256 token against an
	// RSA key, say) is refused before any cryptography, and jws.Verify is told the key's own.
	if key.alg.String() != alg.String() {
		return edge.Identity{}, errAlgorithmForKey
	}
	if _, err := jws.Verify([]byte(token), jws.WithKey(key.alg, key.key)); err != nil {
		return edge.Identity{}, errSignature
	}
	// The signature covers exactly the bytes the claims were parsed from: they are trusted now.
	if !numericDates(msg.Payload()) {
		return edge.Identity{}, errNotNumericDate
	}
	if f := a.checkClaims(unverified, is); f != nil {
		return edge.Identity{}, f
	}
	return identityOf(unverified)
}

// checkClaims checks the time and audience claims of a verified token of issuer is.
func (a *Authenticator) checkClaims(tok jwt.Token, is *issuer) *failure {
	now := a.o.now()
	exp, ok := tok.Expiration()
	if !ok {
		return errNoExpiry
	}
	if now.After(exp.Add(a.skew)) {
		return errExpired
	}
	if nbf, ok := tok.NotBefore(); ok && now.Add(a.skew).Before(nbf) {
		return errNotYetValid
	}
	auds, _ := tok.Audience()
	if !slices.ContainsFunc(auds, func(aud string) bool { return slices.Contains(is.audiences, aud) }) {
		return errAudience
	}
	return nil
}

// numericDates reports whether the claims "exp", "nbf" and "iat" of a token's payload, where
// present, are JSON numbers, as RFC 7519 (section 2, NumericDate) requires. The JWT library
// also accepts strings, even RFC 3339 times, which an issuer's verifier elsewhere may read
// otherwise or refuse.
func numericDates(payload []byte) bool {
	// A map, not a struct: encoding/json would match a struct's fields case-insensitively, and
	// the library reads "EXP" as another claim than "exp".
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return false
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		raw, ok := claims[name]
		if !ok {
			continue
		}
		// The payload is valid JSON, so a value that starts like a number is one.
		if c := raw[0]; c != '-' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// identityOf reads the caller from a verified token's claims.
func identityOf(tok jwt.Token) (edge.Identity, *failure) {
	sub, _ := tok.Subject()
	if sub == "" {
		return edge.Identity{}, errNoSubject
	}
	iss, _ := tok.Issuer()
	id := edge.Identity{Subject: sub, Kind: KindJWT, Issuer: iss}
	for _, claim := range []string{"client_id", "azp"} {
		var v any
		if tok.Get(claim, &v) != nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return edge.Identity{}, errBadClaims
		}
		if s != "" {
			id.ClientID = s
			break
		}
	}
	scopes, ok := scopesOf(tok)
	if !ok {
		return edge.Identity{}, errBadClaims
	}
	id.Scopes = scopes
	return id, nil
}

// scopesOf reads the "scope" claim (a space-separated string) or, when it is absent, "scp" (a
// list of strings, or one string). ok is false when a present claim has another shape.
func scopesOf(tok jwt.Token) ([]string, bool) {
	var v any
	if tok.Get("scope", &v) == nil {
		s, ok := v.(string)
		return strings.Fields(s), ok
	}
	if tok.Get("scp", &v) != nil {
		return nil, true
	}
	switch scp := v.(type) {
	case string:
		return strings.Fields(scp), true
	case []any:
		out := make([]string, 0, len(scp))
		for _, item := range scp {
			s, ok := item.(string)
			if !ok || s == "" || strings.ContainsAny(s, " \t\r\n") {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	default:
		return nil, false
	}
}

// The kinds of identity, as in edge.Identity.Kind.
const (
	KindJWT    = "jwt"
	KindAPIKey = "api_key"
)
