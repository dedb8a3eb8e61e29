package gateway_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/cache"
)

// issuerKey is the HS256 key of a test issuer, with its JWKS file.
type issuerKey struct {
	issuer string
	key    []byte
	jwks   string // path
}

func newIssuerKey(t *testing.T, issuer string) issuerKey {
	t.Helper()
	key := []byte(rand.Text() + rand.Text())
	jwks := fmt.Sprintf(`{"keys":[{"kty":"oct","kid":"hs-1","alg":"HS256","k":%q}]}`, base64.RawURLEncoding.EncodeToString(key))
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(jwks), 0o600); err != nil {
		t.Fatal(err)
	}
	return issuerKey{issuer: issuer, key: key, jwks: path}
}

// token returns a bearer token of the issuer for sub, valid for an hour.
func (k issuerKey) token(sub string) string {
	enc := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	signing := enc(`{"alg":"HS256","kid":"hs-1","typ":"JWT"}`) + "." +
		enc(fmt.Sprintf(`{"iss":%q,"aud":"archway","sub":%q,"exp":%d}`, k.issuer, sub, time.Now().Add(time.Hour).Unix()))
	mac := hmac.New(sha256.New, k.key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TestSubjectsAreKeyedByIssuer checks that "alice" of one issuer and "alice" of another are two
// callers: separate rate-limit buckets and separate private cache entries (RFC 7519: a subject
// is unique only within its issuer).
func TestSubjectsAreKeyedByIssuer(t *testing.T) {
	t.Parallel()
	a, b := newIssuerKey(t, "https://a.issuer.test"), newIssuerKey(t, "https://b.issuer.test")
	env := newTestEnv(t, fmt.Sprintf(`
cache: {debug_header: true}
rate_limit: {classes: {default: {requests: 2, per: 60s, burst: 2}}}
authn:
  jwt_issuers:
    - {issuer: %q, audiences: [archway], jwks_file: %q, algorithms: [HS256]}
    - {issuer: %q, audiences: [archway], jwks_file: %q, algorithms: [HS256]}
`, a.issuer, a.jwks, b.issuer, b.jwks), nil)
	get := func(k issuerKey) reply {
		t.Helper()
		resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", map[string]string{"X-Api-Key": "", "Authorization": "Bearer " + k.token("alice")})
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return resp
	}
	for i, step := range []struct {
		who        issuerKey
		code       int
		cacheDebug string // "" when the rate limit refused the request
	}{
		{a, 200, "MISS"},
		{b, 200, "MISS"}, // not alice of a's private entry
		{a, 200, "HIT"},  // alice of a's second request: her own bucket holds two
		{a, 429, ""},
		{b, 200, "HIT"}, // alice of b's bucket is her own
	} {
		resp := get(step.who)
		if resp.StatusCode != step.code || resp.Header.Get(cache.HeaderDebug) != step.cacheDebug {
			t.Errorf("request %d, alice of %s: status %d, cache %q; want %d, %q", i+1, step.who.issuer,
				resp.StatusCode, resp.Header.Get(cache.HeaderDebug), step.code, step.cacheDebug)
		}
	}
	if n := env.backendCalls(getUserMethod); n != 2 {
		t.Errorf("backend calls = %d, want 2: one for each issuer's alice", n)
	}
}
