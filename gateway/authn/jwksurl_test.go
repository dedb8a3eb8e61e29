package authn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/archway-gateway/archway/gateway/authn"
	"github.com/archway-gateway/archway/gateway/config"
)

// jwksServer serves a key set that a test can replace, on loopback, and counts its fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	status  int
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(s.status)
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// urlConfig accepts tokens of testIssuer whose keys are served at url.
func urlConfig(url string, refresh time.Duration) config.Authn {
	cfg := config.Default().Authn
	cfg.JWTIssuers = []config.JWTIssuer{{
		Issuer:          testIssuer,
		Audiences:       []string{testAudience},
		JWKSURL:         url,
		RefreshInterval: config.Duration(refresh),
	}}
	return cfg
}

// realClaims are valid claims at the real time, for tests whose refreshes run on real timers.
func realClaims() claims {
	return valid().with("iat", time.Now().Unix()).with("exp", time.Now().Add(time.Hour).Unix())
}

func TestJWKSURL(t *testing.T) {
	t.Parallel()
	quiet := authn.WithLogger(slog.New(slog.DiscardHandler))
	t.Run("rotation: a new kid is fetched", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, jwks(t, keyRS256))
		a, reg := newAuthenticator(t, urlConfig(srv.URL, time.Hour), authn.WithHTTPClient(srv.Client()),
			authn.WithMinRefetchInterval(0), quiet)
		if res := serve(t, a, authenticated, bearer(token(t, keyRS256, realClaims()))); res.code != 200 {
			t.Fatalf("first key: %d %s", res.code, res.body)
		}
		srv.serve(http.StatusOK, jwks(t, keyRS256, keyES256))
		if res := serve(t, a, authenticated, bearer(token(t, keyES256, realClaims()))); res.code != 200 {
			t.Fatalf("rotated key: %d %s", res.code, res.body)
		}
		if n := srv.fetches.Load(); n != 2 {
			t.Errorf("fetches = %d, want 2 (start-up and the unknown kid)", n)
		}
		if res := serve(t, a, authenticated, bearer(token(t, keyES256, realClaims()))); res.code != 200 || srv.fetches.Load() != 2 {
			t.Errorf("known key again: %d, %d fetches; want 200 and no new fetch", res.code, srv.fetches.Load())
		}
		if got := counter(t, reg, "archway_authn_failures_total", "reason", "unknown_key"); got != 0 {
			t.Errorf("unknown_key = %v, want 0", got)
		}
	})
	t.Run("unknown kids are refetched at most once per interval", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, jwks(t, keyRS256))
		a, reg := newAuthenticator(t, urlConfig(srv.URL, time.Hour), authn.WithHTTPClient(srv.Client()),
			authn.WithMinRefetchInterval(time.Hour), quiet)
		srv.serve(http.StatusOK, jwks(t, keyRS256, keyES256))
		for range 5 {
			if res := serve(t, a, authenticated, bearer(token(t, keyOther, realClaims()))); res.code != 401 {
				t.Fatalf("unknown kid: %d, want 401", res.code)
			}
		}
		if n := srv.fetches.Load(); n != 1 {
			t.Errorf("fetches = %d, want 1: the start-up fetch was less than the interval ago", n)
		}
		if got := counter(t, reg, "archway_authn_failures_total", "reason", "unknown_key"); got != 5 {
			t.Errorf("unknown_key = %v, want 5", got)
		}
	})
	t.Run("periodic refresh", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, jwks(t, keyRS256))
		a, _ := newAuthenticator(t, urlConfig(srv.URL, 20*time.Millisecond), authn.WithHTTPClient(srv.Client()),
			authn.WithMinRefetchInterval(time.Hour), quiet)
		srv.serve(http.StatusOK, jwks(t, keyEdDSA))
		start := srv.fetches.Load()
		deadline := time.Now().Add(10 * time.Second)
		for srv.fetches.Load() < start+2 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if res := serve(t, a, authenticated, bearer(token(t, keyEdDSA, realClaims()))); res.code != 200 {
			t.Errorf("key published after start-up: %d %s (fetches %d)", res.code, res.body, srv.fetches.Load())
		}
		if res := serve(t, a, authenticated, bearer(token(t, keyRS256, realClaims()))); res.code != 401 {
			t.Errorf("key removed by the refresh: %d, want 401", res.code)
		}
	})
	t.Run("unreachable at start-up", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, []byte("{}"))
		srv.serve(http.StatusServiceUnavailable, []byte("down"))
		a, reg := newAuthenticator(t, urlConfig(srv.URL, time.Hour), authn.WithHTTPClient(srv.Client()),
			authn.WithMinRefetchInterval(0), quiet)
		if got := counter(t, reg, "archway_authn_jwks_fetch_failures_total", "issuer", testIssuer); got != 1 {
			t.Errorf("fetch failures = %v, want 1", got)
		}
		if res := serve(t, a, authenticated, bearer(token(t, keyRS256, realClaims()))); res.code != 401 {
			t.Errorf("while the keys are unknown: %d, want 401", res.code)
		}
		srv.serve(http.StatusOK, jwks(t, keyRS256))
		if res := serve(t, a, authenticated, bearer(token(t, keyRS256, realClaims()))); res.code != 200 {
			t.Errorf("once the issuer is back: %d %s", res.code, res.body)
		}
	})
	t.Run("a bad document keeps the previous keys", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, jwks(t, keyRS256))
		a, reg := newAuthenticator(t, urlConfig(srv.URL, time.Hour), authn.WithHTTPClient(srv.Client()),
			authn.WithMinRefetchInterval(0), quiet)
		srv.serve(http.StatusOK, []byte(`{"keys": "nope"}`))
		if res := serve(t, a, authenticated, bearer(token(t, keyOther, realClaims()))); res.code != 401 {
			t.Errorf("unknown kid: %d, want 401", res.code)
		}
		if res := serve(t, a, authenticated, bearer(token(t, keyRS256, realClaims()))); res.code != 200 {
			t.Errorf("previous key after a bad fetch: %d %s", res.code, res.body)
		}
		if got := counter(t, reg, "archway_authn_jwks_fetch_failures_total", "issuer", testIssuer); got < 1 {
			t.Errorf("fetch failures = %v, want at least 1", got)
		}
	})
}

func TestUnsupportedKeysAreSkipped(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384, err := jwk.Import(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ec384JSON, err := ec384.(interface{ MarshalJSON() ([]byte, error) }).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	set := string(jwks(t, keyRS256, keyOther))
	// keyOther declares RS512, which Archway does not verify; the P-384 key signs ES384.
	set = strings.Replace(set, `"kid":"rsa-2"`, `"kid":"rsa-2","alg":"RS512"`, 1)
	set = strings.Replace(set, `{"keys":[`, `{"keys":[`+string(ec384JSON)+`,`, 1)
	if !strings.Contains(set, `"alg":"RS512"`) || !strings.Contains(set, `"P-384"`) {
		t.Fatalf("the key set lacks the unsupported keys: %s", set)
	}
	srv := newJWKSServer(t, []byte(set))
	a, _ := newAuthenticator(t, urlConfig(srv.URL, time.Hour), authn.WithHTTPClient(srv.Client()),
		authn.WithMinRefetchInterval(time.Hour))
	if res := serve(t, a, authenticated, bearer(token(t, keyRS256, realClaims()))); res.code != 200 {
		t.Errorf("RS256 key beside unsupported ones: %d %s", res.code, res.body)
	}
	if res := serve(t, a, authenticated, bearer(token(t, keyOther, realClaims()))); res.code != 401 {
		t.Errorf("key declared RS512: %d, want 401", res.code)
	}
}
