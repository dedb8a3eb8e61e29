package authn_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/archway-gateway/archway/gateway/authn"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The SHA-256 of demoKey, as printf %s archway-demo-key | sha256sum prints it.
const (
	demoKey     = "archway-demo-key"
	demoKeyHash = "0245cba37c19668e78a1d7029e9052e20d362e76b5aa975fe9f5f0a6b9850ed5"
)

// testConfig accepts tokens of testIssuer signed by any of everyKind (from a JWKS file) and
// the demo API key.
func testConfig(t testing.TB) config.Authn {
	t.Helper()
	cfg := config.Default().Authn
	cfg.JWTIssuers = []config.JWTIssuer{{
		Issuer:     testIssuer,
		Audiences:  []string{testAudience},
		JWKSFile:   writeJWKS(t, everyKind...),
		Algorithms: []string{"RS256", "ES256", "EdDSA", "HS256"},
	}}
	cfg.APIKeys = []config.APIKey{{ClientID: "demo", SHA256: demoKeyHash, Scopes: []string{"orders.write", "users.write"}}}
	return cfg
}

var (
	authenticated = &policy.Policy{Method: "/storefront.users.v1.UserService/GetUser", Descriptor: policy.LinkedMethod("/storefront.users.v1.UserService/GetUser"), Authenticated: true}
	public        = &policy.Policy{Method: "/storefront.catalog.v1.CatalogService/ListProducts", Descriptor: policy.LinkedMethod("/storefront.catalog.v1.CatalogService/ListProducts")}
	needsScope    = &policy.Policy{Method: "/storefront.orders.v1.OrderService/CreateOrder", Descriptor: policy.LinkedMethod("/storefront.orders.v1.OrderService/CreateOrder"), Authenticated: true, Scopes: []string{"orders.write", "orders.admin"}}
)

// rsaPublicPEM is the RSA key's public half as an issuer publishes it: the bytes an algorithm
// confusion attack uses as an HMAC secret.
func rsaPublicPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&rsaPriv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	ada := edge.Identity{Subject: "ada", ClientID: "web", Scopes: []string{"users.read", "orders.write"}, Kind: "jwt", Issuer: testIssuer}
	for _, tc := range []struct {
		name   string
		policy *policy.Policy
		header http.Header
		code   int
		reason string         // counted in archway_authn_failures_total; "" when none
		msg    string         // in the error body
		id     *edge.Identity // what the next handler sees; nil for none
	}{
		{name: "RS256", policy: authenticated, header: bearer(token(t, keyRS256, valid())), code: 200, id: &ada},
		{name: "ES256", policy: authenticated, header: bearer(token(t, keyES256, valid())), code: 200, id: &ada},
		{name: "EdDSA", policy: authenticated, header: bearer(token(t, keyEdDSA, valid())), code: 200, id: &ada},
		{name: "HS256", policy: authenticated, header: bearer(token(t, keyHS256, valid())), code: 200, id: &ada},
		{name: "lower-case scheme", policy: authenticated, header: http.Header{"Authorization": {"bearer " + token(t, keyRS256, valid())}}, code: 200, id: &ada},
		{name: "scp list and azp", policy: authenticated,
			header: bearer(token(t, keyES256, valid().with("scope", nil).with("client_id", nil).with("azp", "spa").with("scp", []string{"a", "b"}))),
			code:   200, id: &edge.Identity{Subject: "ada", ClientID: "spa", Scopes: []string{"a", "b"}, Kind: "jwt", Issuer: testIssuer}},
		{name: "audience as a string", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("aud", testAudience))), code: 200, id: &ada},
		{name: "no kid, one key of the algorithm", policy: authenticated,
			header: bearer(sign(t, map[string]any{"alg": "EdDSA"}, valid(), "EdDSA", edPriv)), code: 200, id: &ada},
		{name: "expired within the skew", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("exp", now.Add(-20*time.Second).Unix()))), code: 200, id: &ada},
		{name: "expired", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("exp", now.Add(-time.Minute).Unix()))),
			code: 401, reason: "expired", msg: "the bearer token has expired"},
		{name: "not yet valid", policy: authenticated, header: bearer(token(t, keyES256, valid().with("nbf", now.Add(time.Minute).Unix()))),
			code: 401, reason: "not_yet_valid", msg: "the bearer token is not valid yet"},
		{name: "starts within the skew", policy: authenticated, header: bearer(token(t, keyES256, valid().with("nbf", now.Add(20*time.Second).Unix()))), code: 200, id: &ada},
		{name: "no expiry", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("exp", nil))),
			code: 401, reason: "malformed", msg: "the bearer token has no expiry"},
		{name: "no subject", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("sub", nil))),
			code: 401, reason: "malformed", msg: "the bearer token has no subject"},
		{name: "critical extension", policy: authenticated,
			header: bearer(sign(t, map[string]any{"alg": "RS256", "kid": keyRS256.kid, "crit": []string{"urn:example:acr"}, "urn:example:acr": "mfa"}, valid(), "RS256", rsaPriv)),
			code:   401, reason: "malformed", msg: "critical header extensions (crit)"},
		{name: "empty crit", policy: authenticated,
			header: bearer(sign(t, map[string]any{"alg": "ES256", "kid": keyES256.kid, "crit": []string{}}, valid(), "ES256", ecPriv)),
			code:   401, reason: "malformed", msg: "(crit)"},
		{name: "exp as a string of digits", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10)))),
			code: 401, reason: "malformed", msg: "exp, nbf and iat must be numbers"},
		{name: "exp as an RFC 3339 time", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("exp", now.Add(time.Hour).Format(time.RFC3339)))),
			code: 401, reason: "malformed", msg: "NumericDate"},
		{name: "nbf as a string", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("nbf", strconv.FormatInt(now.Unix(), 10)))),
			code: 401, reason: "malformed", msg: "NumericDate"},
		{name: "iat as a string", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("iat", strconv.FormatInt(now.Unix(), 10)))),
			code: 401, reason: "malformed", msg: "NumericDate"},
		{name: "iat as a list", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("iat", []int64{now.Unix()}))),
			code: 401, reason: "malformed"},
		{name: "fractional times", policy: authenticated,
			header: bearer(token(t, keyRS256, valid().with("iat", float64(now.Unix())-0.5).with("nbf", float64(now.Unix())-0.25))), code: 200, id: &ada},
		{name: "a claim named EXP is not exp", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("EXP", "soon"))), code: 200, id: &ada},
		{name: "scope of the wrong type", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("scope", 42))),
			code: 401, reason: "malformed", msg: "claims are malformed"},
		{name: "wrong issuer", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("iss", "https://evil.example/"))),
			code: 401, reason: "bad_issuer", msg: "the bearer token's issuer is not accepted"},
		{name: "wrong audience", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("aud", []string{"billing"}))),
			code: 401, reason: "bad_audience", msg: "the bearer token's audience is not accepted"},
		{name: "no audience", policy: authenticated, header: bearer(token(t, keyRS256, valid().with("aud", nil))),
			code: 401, reason: "bad_audience", msg: "audience is not accepted"},
		{name: "signed by another key", policy: authenticated,
			header: bearer(sign(t, map[string]any{"alg": "RS256", "kid": keyRS256.kid}, valid(), "RS256", otherRSA)),
			code:   401, reason: "bad_signature", msg: "the bearer token's signature is not valid"},
		{name: "tampered claims", policy: authenticated, header: bearer(tamper(t, token(t, keyRS256, valid()))),
			code: 401, reason: "bad_signature", msg: "signature is not valid"},
		{name: "unknown kid", policy: authenticated, header: bearer(token(t, keyOther, valid())),
			code: 401, reason: "unknown_key", msg: "the bearer token is signed with an unknown key"},
		{name: "alg none", policy: authenticated, header: bearer(sign(t, map[string]any{"alg": "none", "kid": keyRS256.kid}, valid(), "none", nil)),
			code: 401, reason: "bad_algorithm", msg: "the bearer token is not signed"},
		{name: "algorithm confusion: HS256 with the RSA public key", policy: authenticated,
			header: bearer(sign(t, map[string]any{"alg": "HS256", "kid": keyRS256.kid}, valid(), "HS256", rsaPublicPEM(t))),
			code:   401, reason: "bad_algorithm", msg: "the bearer token's signing algorithm does not match its key"},
		{name: "algorithm confusion: HS256 with the RSA modulus", policy: authenticated,
			header: bearer(sign(t, map[string]any{"alg": "HS256", "kid": keyRS256.kid}, valid(), "HS256", rsaPriv.N.Bytes())),
			code:   401, reason: "bad_algorithm", msg: "does not match its key"},
		{name: "algorithm the issuer does not accept", policy: authenticated,
			header: bearer(sign(t, map[string]any{"alg": "HS384", "kid": keyHS256.kid}, valid(), "HS256", hmacKey)),
			code:   401, reason: "bad_algorithm", msg: "signing algorithm is not accepted"},
		{name: "not a JWT", policy: authenticated, header: bearer("abc.def.ghi"),
			code: 401, reason: "malformed", msg: "the bearer token is not a well-formed signed JWT"},
		{name: "two parts", policy: authenticated, header: bearer("abc.def"), code: 401, reason: "malformed", msg: "not a well-formed"},
		{name: "basic scheme", policy: authenticated, header: http.Header{"Authorization": {"Basic YWRhOnB3"}},
			code: 401, reason: "malformed", msg: `the Authorization header must be "Bearer <token>"`},
		{name: "bearer without token", policy: authenticated, header: http.Header{"Authorization": {"Bearer "}}, code: 401, reason: "malformed"},
		{name: "bearer with two spaces", policy: authenticated, header: http.Header{"Authorization": {"Bearer  " + token(t, keyRS256, valid())}}, code: 401, reason: "malformed"},
		{name: "two Authorization headers", policy: authenticated,
			header: http.Header{"Authorization": {"Bearer " + token(t, keyRS256, valid()), "Bearer " + token(t, keyRS256, valid())}}, code: 401, reason: "malformed"},
		{name: "token and API key", policy: authenticated,
			header: http.Header{"Authorization": {"Bearer " + token(t, keyRS256, valid())}, "X-Api-Key": {demoKey}},
			code:   401, reason: "malformed", msg: "send either a bearer token or an API key, not both"},
		{name: "missing credentials", policy: authenticated, code: 401, reason: "missing", msg: "this method requires a bearer token or an API key"},
		{name: "missing scope", policy: needsScope, header: bearer(token(t, keyRS256, valid())),
			code: 403, reason: "insufficient_scope", msg: "the caller lacks the scope this method requires: orders.admin", id: &ada},
		{name: "every scope", policy: needsScope, header: bearer(token(t, keyRS256, valid().with("scope", "orders.admin users.read orders.write"))),
			code: 200, id: &edge.Identity{Subject: "ada", ClientID: "web", Scopes: []string{"orders.admin", "users.read", "orders.write"}, Kind: "jwt", Issuer: testIssuer}},
		{name: "scopes without credentials", policy: &policy.Policy{Method: "/x.Y/Z", Scopes: []string{"a"}}, code: 401, reason: "missing"},
		{name: "public without credentials", policy: public, code: 200},
		{name: "public with a valid token", policy: public, header: bearer(token(t, keyEdDSA, valid())), code: 200, id: &ada},
		{name: "public with an expired token", policy: public, header: bearer(token(t, keyEdDSA, valid().with("exp", now.Add(-time.Hour).Unix()))),
			code: 401, reason: "expired", msg: "has expired"},
		{name: "public with a bad API key", policy: public, header: http.Header{"X-Api-Key": {"guess"}}, code: 401, reason: "bad_api_key", msg: "the API key is not valid"},
		{name: "API key", policy: &policy.Policy{Method: "/x.Y/Z", Authenticated: true, Scopes: []string{"orders.write"}}, header: http.Header{"X-Api-Key": {demoKey}},
			code: 200, id: &edge.Identity{Subject: "demo", ClientID: "demo", Scopes: []string{"orders.write", "users.write"}, Kind: "api_key"}},
		{name: "unknown API key", policy: authenticated, header: http.Header{"X-Api-Key": {demoKey + "x"}}, code: 401, reason: "bad_api_key", msg: "the API key is not valid"},
		{name: "empty API key", policy: authenticated, header: http.Header{"X-Api-Key": {""}}, code: 401, reason: "bad_api_key"},
		{name: "two API keys", policy: authenticated, header: http.Header{"X-Api-Key": {demoKey, demoKey}}, code: 401, reason: "bad_api_key"},
		{name: "API key lacks a scope", policy: needsScope, header: http.Header{"X-Api-Key": {demoKey}}, code: 403, reason: "insufficient_scope", msg: "orders.admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, reg := newAuthenticator(t, testConfig(t), authn.WithClock(func() time.Time { return now }))
			res := serve(t, a, tc.policy, tc.header)
			if res.code != tc.code {
				t.Fatalf("status %d, want %d; body %s", res.code, tc.code, res.body)
			}
			if res.reached != (tc.code == 200) {
				t.Errorf("next handler reached: %v, want %v", res.reached, tc.code == 200)
			}
			if tc.id != nil && (!res.hasID || !sameIdentity(res.identity, *tc.id)) && res.reached {
				t.Errorf("identity = %+v (%v), want %+v", res.identity, res.hasID, *tc.id)
			}
			if tc.id == nil && res.hasID {
				t.Errorf("identity = %+v, want none", res.identity)
			}
			for _, reason := range []string{"missing", "malformed", "expired", "not_yet_valid", "bad_algorithm", "bad_signature",
				"bad_issuer", "bad_audience", "unknown_key", "bad_api_key", "insufficient_scope"} {
				want := 0.0
				if reason == tc.reason {
					want = 1
				}
				if got := counter(t, reg, "archway_authn_failures_total", "reason", reason); got != want {
					t.Errorf("archway_authn_failures_total{reason=%q} = %v, want %v", reason, got, want)
				}
			}
			if tc.code == 200 {
				return
			}
			checkRefusal(t, res, tc.code, tc.msg, tc.header)
		})
	}
}

func sameIdentity(a, b edge.Identity) bool {
	return a.Subject == b.Subject && a.ClientID == b.ClientID && a.Kind == b.Kind && a.Issuer == b.Issuer && slices.Equal(a.Scopes, b.Scopes)
}

// tamper changes the subject in a token's payload, keeping its signature.
func tamper(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	c := valid().with("sub", "admin")
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + b64(data) + "." + parts[2]
}

// checkStatusBody checks that a 400, 401 or 403 answer's body is a google.rpc.Status with the
// code that the HTTP status maps from and a message containing msg.
func checkStatusBody(t *testing.T, res result, code int, msg string) {
	t.Helper()
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(res.body), &st); err != nil {
		t.Fatalf("body %q is not a google.rpc.Status: %v", res.body, err)
	}
	wantCode := map[int]int{400: 3, 401: 16, 403: 7}[code]
	if st.Code != wantCode || !strings.Contains(st.Message, msg) {
		t.Errorf("status = %d %q, want code %d and a message containing %q", st.Code, st.Message, wantCode, msg)
	}
}

// checkRefusal checks a 401 or 403 answer: a google.rpc.Status body with the right code and a
// message containing msg, the RFC 6750 challenge, and nothing of the credentials sent.
func checkRefusal(t *testing.T, res result, code int, msg string, sent http.Header) {
	t.Helper()
	checkStatusBody(t, res, code, msg)
	challenge := res.header.Get("WWW-Authenticate")
	_, bearerSent := sent["Authorization"]
	_, keySent := sent["X-Api-Key"]
	switch {
	case code == 403:
		if !strings.HasPrefix(challenge, `Bearer realm="archway", error="insufficient_scope", scope="`) {
			t.Errorf("WWW-Authenticate = %q, want an insufficient_scope challenge naming the scopes", challenge)
		}
	case bearerSent:
		want := `Bearer realm="archway", error="invalid_token", error_description="`
		if !strings.HasPrefix(challenge, want) || strings.Count(challenge, `"`) != 6 {
			t.Errorf("WWW-Authenticate = %q, want %s…\"", challenge, want)
		}
	case keySent || !bearerSent:
		if challenge != `Bearer realm="archway"` {
			t.Errorf("WWW-Authenticate = %q, want %q", challenge, `Bearer realm="archway"`)
		}
	}
	for _, vs := range sent {
		for _, v := range vs {
			secret := v[strings.LastIndexAny(v, " .")+1:]
			if len(secret) >= 8 && (strings.Contains(res.body, secret) || strings.Contains(challenge, secret)) {
				t.Errorf("the answer repeats the credentials sent: %s / %s", res.body, challenge)
			}
		}
	}
}

func TestNilPolicyPassesThrough(t *testing.T) {
	t.Parallel()
	a, reg := newAuthenticator(t, testConfig(t))
	res := serve(t, a, nil, http.Header{"Authorization": {"Basic garbage"}, "X-Api-Key": {"wrong"}})
	if res.code != 200 || !res.reached || res.hasID {
		t.Errorf("unrouted request: status %d, reached %v, identity %v; want it untouched", res.code, res.reached, res.hasID)
	}
	if got := counter(t, reg, "archway_authn_failures_total", "reason", "malformed"); got != 0 {
		t.Errorf("failures counted for an unrouted request: %v", got)
	}
}

func TestRevokedAPIKey(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	before, _ := newAuthenticator(t, cfg)
	if res := serve(t, before, authenticated, http.Header{"X-Api-Key": {demoKey}}); res.code != 200 {
		t.Fatalf("before revocation: status %d %s", res.code, res.body)
	}
	cfg.APIKeys = nil
	after, _ := newAuthenticator(t, cfg)
	if res := serve(t, after, authenticated, http.Header{"X-Api-Key": {demoKey}}); res.code != 401 {
		t.Errorf("after removing the entry: status %d, want 401", res.code)
	}
}

func TestCustomAPIKeyHeader(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.APIKeyHeader = "x-client-key"
	a, _ := newAuthenticator(t, cfg)
	if res := serve(t, a, authenticated, http.Header{"X-Client-Key": {demoKey}}); res.code != 200 {
		t.Errorf("key in X-Client-Key: status %d %s", res.code, res.body)
	}
	if res := serve(t, a, authenticated, http.Header{"X-Api-Key": {demoKey}}); res.code != 401 {
		t.Errorf("key in the default header: status %d, want 401 (not looked at)", res.code)
	}
}

func TestNewRejectsBadKeyFiles(t *testing.T) {
	t.Parallel()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data func(t *testing.T) []byte
		want string
	}{
		{"not JSON", func(*testing.T) []byte { return []byte("nope") }, "not a JSON Web Key Set"},
		{"small RSA key", func(*testing.T) []byte {
			return []byte(`{"keys":[{"kty":"RSA","kid":"small","e":"AQAB","n":"` + b64(small.N.Bytes()) + `"}]}`)
		}, "1024 bits"},
		{"short HMAC secret", func(t *testing.T) []byte {
			return jwks(t, testKey{kid: "short", public: []byte("0123456789")})
		}, "HS256 secret of 10 bytes"},
		{"duplicate kid", func(t *testing.T) []byte {
			return jwks(t, keyRS256, testKey{kid: keyRS256.kid, public: &otherRSA.PublicKey})
		}, `kid "rsa-1" is used twice`},
		{"alg that does not fit the key", func(t *testing.T) []byte {
			return []byte(strings.Replace(string(jwks(t, keyRS256)), `"kty":"RSA"`, `"alg":"HS256","kty":"RSA"`, 1))
		}, `its alg "HS256" does not fit its key type`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "jwks.json")
			if err := os.WriteFile(path, tc.data(t), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t)
			cfg.JWTIssuers[0].JWKSFile = path
			a, err := authn.New(t.Context(), cfg, authn.WithLogger(slog.New(slog.DiscardHandler)))
			if err == nil {
				_ = a.Close()
				t.Fatalf("New succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want %q", err, tc.want)
			}
		})
	}
	cfg := testConfig(t)
	cfg.JWTIssuers[0].JWKSFile = filepath.Join(t.TempDir(), "missing.json")
	if a, err := authn.New(t.Context(), cfg, authn.WithLogger(slog.New(slog.DiscardHandler))); err == nil {
		_ = a.Close()
		t.Error("New succeeded with a missing key file")
	}
}

func TestIssuerAlgorithmsLimitKeys(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.JWTIssuers[0].Algorithms = nil // the default: no HS256
	a, reg := newAuthenticator(t, cfg, authn.WithClock(func() time.Time { return now }))
	if res := serve(t, a, authenticated, bearer(token(t, keyRS256, valid()))); res.code != 200 {
		t.Errorf("RS256 with the default algorithms: %d %s", res.code, res.body)
	}
	if res := serve(t, a, authenticated, bearer(token(t, keyHS256, valid()))); res.code != 401 {
		t.Errorf("HS256 with the default algorithms: %d, want 401", res.code)
	}
	if got := counter(t, reg, "archway_authn_failures_total", "reason", "bad_algorithm"); got != 1 {
		t.Errorf("bad_algorithm = %v, want 1", got)
	}
}
