package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Authn configures how the gateway authenticates callers: bearer tokens (JWTs) and API keys,
// and the secret with which it signs the identity it forwards to backends.
type Authn struct {
	// JWTIssuers lists the token issuers whose JWTs the gateway accepts as bearer tokens. By
	// default empty: no bearer token is accepted.
	JWTIssuers []JWTIssuer `yaml:"jwt_issuers"`

	// ClockSkew is how far the gateway's clock may be off the issuers' when it checks a
	// token's expiry ("exp") and start ("nbf"). From 0 to 5m. By default 30s.
	ClockSkew Duration `yaml:"clock_skew"`

	// APIKeyHeader is the request header that carries an API key. By default "X-Api-Key".
	APIKeyHeader string `yaml:"api_key_header"`

	// APIKeys lists the accepted API keys, each stored as the SHA-256 of the key. Removing an
	// entry revokes its key. By default empty.
	APIKeys []APIKey `yaml:"api_keys"`

	// IdentitySecret is the shared secret with which the gateway signs the identity it
	// forwards to backends (metadata x-archway-identity and x-archway-identity-sig); backends
	// verify it with the same secret. At least 32 bytes when set. By default empty: nothing is
	// signed, and backends that require the identity refuse every call. Prefer setting it
	// with ARCHWAY_AUTHN_IDENTITY_SECRET over writing it in the file.
	IdentitySecret string `yaml:"identity_secret"`

	// StreamCredentials lets browsers authenticate streams, where they cannot set headers:
	// EventSource sends none, and WebSocket only Sec-WebSocket-Protocol. By default both ways
	// are off.
	StreamCredentials StreamCredentials `yaml:"stream_credentials"`

	// FailedAttempts limits how often one client address (IPv6 by its /64) may fail
	// authentication: beyond it, a request that carries a credential is answered 429 with
	// Retry-After, without the credential being checked. By default 60 per minute, burst 30.
	FailedAttempts FailedAttempts `yaml:"failed_attempts"`
}

// FailedAttempts is the allowance of failed authentications of one client address, kept in
// the process (each replica counts on its own).
type FailedAttempts struct {
	// Requests is the number of failed attempts an address may make per Per, on average; 0
	// turns the limit off. By default 60.
	Requests int `yaml:"requests"`

	// Per is the period Requests are counted over, at least 1s. By default 1m.
	Per Duration `yaml:"per"`

	// Burst is the number of failed attempts an address may make at once, after failing none
	// for a while. By default 30.
	Burst int `yaml:"burst"`

	// MaxAddresses bounds the addresses counted at once; when it is reached, addresses whose
	// count has run out are forgotten first. By default 100000.
	MaxAddresses int `yaml:"max_addresses"`
}

// StreamCredentials says where, besides the Authorization and API key headers, the gateway
// looks for the credential of a streaming request: a WebSocket upgrade to a client-streaming or
// bidirectional route, or a request for Server-Sent Events (Accept: text/event-stream) to a
// server-streaming route. Other requests never carry credentials there.
type StreamCredentials struct {
	// WebSocketProtocol accepts the credential as a WebSocket subprotocol that the page offers
	// next to "archway.v1": "archway.bearer.<token>" or "archway.apikey.<key>". The gateway
	// answers "archway.v1" and never echoes the credential. By default false.
	WebSocketProtocol bool `yaml:"websocket_protocol"`

	// QueryParameter accepts the credential in the query string, as "access_token=<token>"
	// (RFC 6750, section 2.3) or "api_key=<key>", which is how EventSource can send one. The
	// parameter is removed before the request goes on, and redacted in the access log; but
	// URLs end up in browser histories and in the logs of proxies in front of the gateway, so
	// prefer short-lived tokens. By default false.
	QueryParameter bool `yaml:"query_parameter"`
}

// JWTIssuer is one issuer of bearer tokens and the keys its tokens are signed with.
type JWTIssuer struct {
	// Issuer is the exact "iss" claim of the issuer's tokens, such as
	// "https://login.example.com/". Required, unique.
	Issuer string `yaml:"issuer"`

	// Audiences lists the "aud" values accepted: a token must name at least one of them.
	// Required, at least one.
	Audiences []string `yaml:"audiences"`

	// JWKSFile is the path of a JSON Web Key Set file holding the issuer's keys. Exactly one
	// of JWKSFile and JWKSURL is required.
	JWKSFile string `yaml:"jwks_file"`

	// JWKSURL is the https URL of the issuer's JSON Web Key Set (plain http only for loopback
	// hosts). Exactly one of JWKSFile and JWKSURL is required.
	JWKSURL string `yaml:"jwks_url"`

	// RefreshInterval is how often the key set is fetched (or the file read) again, so that
	// rotated keys are picked up; a token naming an unknown key also triggers a fetch, at most
	// once every 30s. 0 means the default, 10m; otherwise at least 1s.
	RefreshInterval Duration `yaml:"refresh_interval"`

	// Algorithms lists the signing algorithms accepted from this issuer, among "RS256",
	// "ES256", "EdDSA" and "HS256". Each key is bound to one algorithm, from its "alg" member or
	// its key type, and a token must name that algorithm. Empty means RS256, ES256 and EdDSA:
	// HS256 (a shared secret, as a "kty":"oct" key in a JWKS file) must be listed explicitly.
	Algorithms []string `yaml:"algorithms"`
}

// APIKey is one accepted API key.
type APIKey struct {
	// ClientID identifies the caller that holds the key: it becomes the caller's subject and
	// client id. Required; several keys may share a client id (to rotate keys).
	ClientID string `yaml:"client_id"`

	// SHA256 is the SHA-256 of the key, in hex (64 digits), as printed by
	// `printf %s "$KEY" | sha256sum`. Required, unique.
	SHA256 string `yaml:"sha256"`

	// Scopes lists the scopes the key grants. By default none.
	Scopes []string `yaml:"scopes"`
}

// The defaults and limits of the authn section.
const (
	// DefaultJWKSRefresh is the refresh interval of an issuer that sets none.
	DefaultJWKSRefresh = 10 * time.Minute
	// MinIdentitySecretLen is the shortest authn.identity_secret accepted, in bytes.
	MinIdentitySecretLen = 32

	maxClockSkew       = 5 * time.Minute
	minJWKSRefresh     = time.Second
	identityHeaderStem = "x-archway-identity"
)

// JWTAlgorithms are the signing algorithms authn.jwt_issuers[].algorithms may name.
var JWTAlgorithms = []string{"RS256", "ES256", "EdDSA", "HS256"}

// DefaultJWTAlgorithms are the algorithms of an issuer that lists none.
var DefaultJWTAlgorithms = []string{"RS256", "ES256", "EdDSA"}

func defaultAuthn() Authn {
	return Authn{
		ClockSkew:      Duration(30 * time.Second),
		APIKeyHeader:   "X-Api-Key",
		FailedAttempts: FailedAttempts{Requests: 60, Per: Duration(time.Minute), Burst: 30, MaxAddresses: 100000},
	}
}

// checkAuthn checks the authn section, and that api.forward_headers does not let clients send
// the forwarded identity themselves.
func (c *Config) checkAuthn(ch *checker) {
	a := c.Authn
	issuers := map[string]int{}
	for i, is := range a.JWTIssuers {
		ch.jwtIssuer(fmt.Sprintf("authn.jwt_issuers[%d]", i), is, issuers, i)
	}
	if a.ClockSkew < 0 || a.ClockSkew.D() > maxClockSkew {
		ch.failf("authn.clock_skew", "must be from 0s to %s, got %s", maxClockSkew, a.ClockSkew)
	}
	switch h := strings.ToLower(a.APIKeyHeader); {
	case h == "":
		ch.failf("authn.api_key_header", "must not be empty")
	case !validMetadataKey(h) || strings.ContainsAny(h, "."):
		ch.failf("authn.api_key_header", "%q is not a header name: use letters, digits, '-' and '_'", a.APIKeyHeader)
	case h == "authorization" || reservedHeaders[h] || strings.HasPrefix(h, "grpc-") || strings.HasPrefix(h, identityHeaderStem):
		ch.failf("authn.api_key_header", "%q is reserved for another use", a.APIKeyHeader)
	}
	hashes := map[string]int{}
	for i, k := range a.APIKeys {
		p := fmt.Sprintf("authn.api_keys[%d]", i)
		if strings.TrimSpace(k.ClientID) == "" {
			ch.failf(p+".client_id", "must not be empty")
		}
		sum := strings.ToLower(k.SHA256)
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			ch.failf(p+".sha256", "must be the SHA-256 of the key as 64 hex digits (printf %%s \"$KEY\" | sha256sum), got %d characters", len(k.SHA256))
		} else if j, dup := hashes[sum]; dup {
			ch.failf(p+".sha256", "duplicates authn.api_keys[%d].sha256", j)
		} else {
			hashes[sum] = i
		}
		ch.scopes(p+".scopes", k.Scopes)
	}
	if f := a.FailedAttempts; f.Requests < 0 {
		ch.failf("authn.failed_attempts.requests", "must not be negative, got %d", f.Requests)
	} else if f.Requests > 0 {
		if f.Per.D() < time.Second {
			ch.failf("authn.failed_attempts.per", "must be at least 1s, got %s", f.Per)
		}
		if f.Burst <= 0 {
			ch.failf("authn.failed_attempts.burst", "must be positive, got %d", f.Burst)
		}
		if f.MaxAddresses <= 0 {
			ch.failf("authn.failed_attempts.max_addresses", "must be positive, got %d", f.MaxAddresses)
		}
	}
	if n := len(a.IdentitySecret); n > 0 && n < MinIdentitySecretLen {
		ch.failf("authn.identity_secret", "must be at least %d bytes long when set, got %d", MinIdentitySecretLen, n)
	}
	for i, h := range c.API.ForwardHeaders {
		if strings.HasPrefix(strings.ToLower(h), identityHeaderStem) {
			ch.failf(fmt.Sprintf("api.forward_headers[%d]", i), "%q cannot be forwarded: the gateway sets it, signed, on every backend call", h)
		}
	}
}

// jwtIssuer checks one authn.jwt_issuers entry at path p; seen maps the issuers before it to
// their index.
func (ch *checker) jwtIssuer(p string, is JWTIssuer, seen map[string]int, i int) {
	switch j, dup := seen[is.Issuer]; {
	case is.Issuer == "":
		ch.failf(p+".issuer", "must not be empty")
	case dup:
		ch.failf(p+".issuer", "%q duplicates authn.jwt_issuers[%d].issuer", is.Issuer, j)
	default:
		seen[is.Issuer] = i
	}
	if len(is.Audiences) == 0 {
		ch.failf(p+".audiences", "must list at least one audience")
	}
	for k, aud := range is.Audiences {
		if aud == "" {
			ch.failf(fmt.Sprintf("%s.audiences[%d]", p, k), "must not be empty")
		}
	}
	switch {
	case is.JWKSFile == "" && is.JWKSURL == "":
		ch.failf(p, "set jwks_file or jwks_url")
	case is.JWKSFile != "" && is.JWKSURL != "":
		ch.failf(p, "set jwks_file or jwks_url, not both")
	case is.JWKSURL != "":
		if msg := checkJWKSURL(is.JWKSURL); msg != "" {
			ch.failf(p+".jwks_url", "%s", msg)
		}
	}
	if d := is.RefreshInterval; d < 0 || (d > 0 && d.D() < minJWKSRefresh) {
		ch.failf(p+".refresh_interval", "must be 0 (the default, %s) or at least %s, got %s", DefaultJWKSRefresh, minJWKSRefresh, d)
	}
	algs := map[string]int{}
	for k, alg := range is.Algorithms {
		ap := fmt.Sprintf("%s.algorithms[%d]", p, k)
		if strings.EqualFold(alg, "none") {
			ch.failf(ap, "unsigned tokens (\"none\") are never accepted")
			continue
		}
		ch.oneOf(ap, alg, JWTAlgorithms...)
		if j, dup := algs[alg]; dup {
			ch.failf(ap, "%q duplicates %s.algorithms[%d]", alg, p, j)
		} else {
			algs[alg] = k
		}
	}
}

// checkJWKSURL returns what is wrong with a JWKS URL, or "".
func checkJWKSURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("%q is not an absolute https URL", raw)
	}
	if u.Scheme == "http" {
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Sprintf("%q must use https: keys fetched over plain http could be replaced on the way (http is allowed for loopback hosts only)", raw)
		}
	}
	if u.User != nil {
		return fmt.Sprintf("%q must not carry credentials", u.Redacted())
	}
	return ""
}

// scopes checks a list of scopes: OAuth scope tokens, without spaces or quotes.
func (ch *checker) scopes(path string, scopes []string) {
	for i, s := range scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r > '~' }) {
			ch.failf(fmt.Sprintf("%s[%d]", path, i), "%q is not a scope: use printable ASCII without spaces, quotes or backslashes", s)
		}
	}
}
