package authn_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/archway-gateway/archway/gateway/authn"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
)

const (
	testIssuer   = "https://login.example.test/"
	testAudience = "archway"
)

// now is the clock of every test that does not need the real time.
var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// testKey is a signing key generated for the tests, with its kid and algorithm.
type testKey struct {
	kid    string
	alg    string
	signer any // *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or []byte
	public any // what goes into the key set
}

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEd() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// The keys are generated once per test binary run; none is ever written to the repository.
var (
	rsaPriv   = mustRSA()
	otherRSA  = mustRSA()
	ecPriv    = mustEC()
	edPriv    = mustEd()
	hmacKey   = []byte(rand.Text() + rand.Text())
	keyRS256  = testKey{kid: "rsa-1", alg: "RS256", signer: rsaPriv, public: &rsaPriv.PublicKey}
	keyES256  = testKey{kid: "ec-1", alg: "ES256", signer: ecPriv, public: &ecPriv.PublicKey}
	keyEdDSA  = testKey{kid: "ed-1", alg: "EdDSA", signer: edPriv, public: edPriv.Public()}
	keyHS256  = testKey{kid: "hs-1", alg: "HS256", signer: hmacKey, public: hmacKey}
	keyOther  = testKey{kid: "rsa-2", alg: "RS256", signer: otherRSA, public: &otherRSA.PublicKey}
	everyKind = []testKey{keyRS256, keyES256, keyEdDSA, keyHS256}
)

// jwks renders keys as a JSON Web Key Set.
func jwks(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		key, err := jwk.Import(k.public)
		if err != nil {
			t.Fatal(err)
		}
		if err := key.Set(jwk.KeyIDKey, k.kid); err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(key); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func b64(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

// claims are a token's claims; valid returns a set that passes every check at now.
type claims map[string]any

func valid() claims {
	return claims{
		"iss":       testIssuer,
		"aud":       []string{"other", testAudience},
		"sub":       "ada",
		"client_id": "web",
		"scope":     "users.read orders.write",
		"iat":       now.Add(-time.Minute).Unix(),
		"exp":       now.Add(time.Hour).Unix(),
	}
}

// with returns a copy of c with key set to v, or removed when v is nil.
func (c claims) with(key string, v any) claims {
	out := claims{}
	for k, val := range c {
		out[k] = val
	}
	if v == nil {
		delete(out, key)
	} else {
		out[key] = v
	}
	return out
}

// sign makes a compact JWS of c with header, signed by signer with the algorithm alg. It signs
// with the standard library alone, so the tests do not trust the library under test to make
// its own inputs.
func sign(t testing.TB, header map[string]any, c claims, alg string, signer any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(h) + "." + b64(p)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch alg {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, signer.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, signer.(*ecdsa.PrivateKey), digest[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	case "EdDSA":
		sig = ed25519.Sign(signer.(ed25519.PrivateKey), []byte(input))
	case "HS256":
		m := hmac.New(sha256.New, signer.([]byte))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "none":
	default:
		t.Fatalf("sign: unknown alg %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// token signs c with k, naming k's kid and algorithm.
func token(t testing.TB, k testKey, c claims) string {
	t.Helper()
	return sign(t, map[string]any{"alg": k.alg, "kid": k.kid, "typ": "JWT"}, c, k.alg, k.signer)
}

// writeJWKS writes a key set file and returns its path.
func writeJWKS(t testing.TB, keys ...testKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwks(t, keys...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newAuthenticator builds an Authenticator for cfg with a fresh registry, closed when the test
// ends.
func newAuthenticator(t testing.TB, cfg config.Authn, opts ...authn.Option) (*authn.Authenticator, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := authn.New(t.Context(), cfg, append([]authn.Option{authn.WithRegisterer(reg)}, opts...)...)
	if err != nil {
		t.Fatalf("authn.New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, reg
}

// counter returns the value of the counter name with the label pair, 0 when it has none.
func counter(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabel(m, label, value) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name && lp.GetValue() == value {
			return true
		}
	}
	return false
}

// result is what a request through the middleware produced.
type result struct {
	code     int
	header   http.Header
	body     string
	reached  bool          // the next handler ran
	identity edge.Identity // as the next handler saw it
	hasID    bool
}

// serve sends a GET with header through a's middleware, with the route policy p (none when
// nil), and reports what happened.
func serve(t testing.TB, a *authn.Authenticator, p *policy.Policy, header http.Header) result {
	t.Helper()
	var res result
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res.reached = true
		res.identity, res.hasID = edge.StateFrom(r.Context()).Identity()
		w.WriteHeader(http.StatusOK)
	})
	r := httptest.NewRequest(http.MethodGet, "/v1/users/ada", nil)
	for k, vs := range header {
		r.Header[k] = vs
	}
	r, _ = edge.WithState(r, "req-1")
	if p != nil {
		r = r.WithContext(policy.NewContext(r.Context(), p))
	}
	w := httptest.NewRecorder()
	a.Middleware(next).ServeHTTP(w, r)
	res.code, res.header, res.body = w.Code, w.Result().Header, w.Body.String()
	return res
}

// bearer is the header of a bearer token.
func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}
