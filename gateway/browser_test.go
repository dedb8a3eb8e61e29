package gateway_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/internal/browsertest"
	"github.com/archway-gateway/archway/server"
)

// corsPage is a web page of another origin that calls the gateway as a shop's front end would.
// Its query names the URL to fetch and the credential to send: key (X-Api-Key) or token
// (Authorization: Bearer), either of which makes the browser send a preflight first.
// window.result is a promise of what the page got: the status, the JSON body and the
// X-Request-Id (readable only when the gateway exposes it), or the error that fetch threw.
const corsPage = `<!doctype html>
<title>cross-origin widget</title>
<pre id="out">pending</pre>
<script>
const q = new URLSearchParams(location.search);
const headers = {};
if (q.has("key")) headers["X-Api-Key"] = q.get("key");
if (q.has("token")) headers["Authorization"] = "Bearer " + q.get("token");
window.result = fetch(q.get("url"), {headers}).then(
  async r => ({status: r.status, body: await r.json(), requestId: r.headers.get("X-Request-Id") || ""}),
  e => ({error: e.name + ": " + e.message}));
window.result.then(r => { document.getElementById("out").textContent = JSON.stringify(r); });
</script>
`

// fetchResult is what corsPage's window.result resolves to.
type fetchResult struct {
	Status    int            `json:"status"`
	Body      map[string]any `json:"body"`
	RequestID string         `json:"requestId"`
	Error     string         `json:"error"`
}

// seen is one request the gateway answered, as a browser test checks it.
type seen struct {
	method, origin string
	status         int
}

// requestLog records the method, Origin and status of every request its handler answers.
type requestLog struct {
	mu   sync.Mutex
	reqs []seen
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.reqs = append(l.reqs, seen{method: r.Method, origin: r.Header.Get("Origin"), status: sw.status})
	})
}

// from returns the requests that came from origin.
func (l *requestLog) from(origin string) []seen {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []seen
	for _, s := range l.reqs {
		if s.origin == origin {
			out = append(out, s)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// servePage serves corsPage on a new loopback port, which makes it an origin of its own, and
// returns that origin.
func servePage(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, corsPage)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// hs256Token returns a JWT for issuer https://issuer.test and audience archway, signed with
// key, that expires in an hour.
func hs256Token(key []byte, sub string) string {
	enc := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	signing := enc(`{"alg":"HS256","kid":"hs-1","typ":"JWT"}`) + "." +
		enc(fmt.Sprintf(`{"iss":"https://issuer.test","aud":"archway","sub":%q,"exp":%d}`, sub, time.Now().Add(time.Hour).Unix()))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TestBrowserCORS loads pages from other origins into headless Chromium and has them call a
// real gateway over the storefront servers with fetch: the browser enforces CORS, so what the
// page gets is what a shop's front end would get. Allowed origins get through the preflight
// with either credential and read the answer; a disallowed origin's preflight is refused and
// its fetch fails before the request is sent.
func TestBrowserCORS(t *testing.T) {
	t.Parallel()
	browser := browsertest.Start(t)

	sf, err := server.Start(t.Context(), server.Options{})
	if err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(sf.Stop)

	keyOrigin, tokenOrigin, anonOrigin, otherOrigin := servePage(t), servePage(t), servePage(t), servePage(t)
	jwks := writeJWKS(t)
	cfg, err := config.Parse(fmt.Appendf(nil, `
admin: {enabled: false}
log: {access_log: false}
backends:
  - {name: users, address: %q, services: [storefront.users.v1.UserService]}
  - {name: orders, address: %q, services: [storefront.orders.v1.OrderService]}
  - {name: catalog, address: %q, services: [storefront.catalog.v1.CatalogService]}
cors:
  allowed_origins: [%q, %q, %q]
`+testAuthn+`
  jwt_issuers:
    - {issuer: "https://issuer.test", audiences: [archway], jwks_file: %q, algorithms: [HS256]}
`, sf.Addr(server.Users), sf.Addr(server.Orders), sf.Addr(server.Catalog),
		keyOrigin, tokenOrigin, anonOrigin, jwks), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	gw, err := gateway.New(t.Context(), cfg, gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	requests := &requestLog{}
	api := httptest.NewServer(requests.wrap(gw.Handler()))
	t.Cleanup(api.Close)
	userURL := api.URL + "/v1/users/ada-lovelace"

	for _, tc := range []struct {
		name   string
		origin string
		query  url.Values
		// want is the status the page reads; 0: fetch must fail.
		want int
		// preflight is the status the gateway answered the preflight with; 0: none was sent.
		preflight int
	}{
		{"allowed origin with an API key", keyOrigin, url.Values{"key": {testAPIKey}}, http.StatusOK, http.StatusNoContent},
		{"allowed origin with a bearer token", tokenOrigin, url.Values{"token": {hs256Token(testJWTSecret, "ada")}}, http.StatusOK, http.StatusNoContent},
		{"allowed origin without credentials", anonOrigin, url.Values{}, http.StatusUnauthorized, 0},
		{"disallowed origin", otherOrigin, url.Values{"key": {testAPIKey}}, 0, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			page := browser.NewPage(t)
			tc.query.Set("url", userURL)
			page.Do(chromedp.Navigate(tc.origin + "/?" + tc.query.Encode()))
			got := browsertest.Run(page, chromedp.Evaluate[fetchResult](`window.result`, chromedp.EvalAwaitPromise))

			switch {
			case tc.want == 0:
				if !strings.HasPrefix(got.Error, "TypeError") {
					t.Errorf("fetch from a disallowed origin gave %+v, want a TypeError", got)
				}
			case got.Error != "":
				t.Fatalf("fetch failed: %s", got.Error)
			case got.Status != tc.want:
				t.Errorf("the page read status %d, want %d; body %v", got.Status, tc.want, got.Body)
			case tc.want == http.StatusOK && got.Body["name"] != "users/ada-lovelace":
				t.Errorf("the page read body %v, want users/ada-lovelace", got.Body)
			case tc.want == http.StatusUnauthorized && got.Body["code"] != float64(16):
				t.Errorf("the page read body %v, want a google.rpc.Status with code 16 (UNAUTHENTICATED)", got.Body)
			case got.RequestID == "":
				t.Errorf("the page could not read X-Request-Id: it is not exposed")
			}

			var preflights, calls []seen
			for _, s := range requests.from(tc.origin) {
				if s.method == http.MethodOptions {
					preflights = append(preflights, s)
				} else {
					calls = append(calls, s)
				}
			}
			switch {
			case tc.preflight == 0 && len(preflights) > 0:
				t.Errorf("the gateway got preflights %v, want none: the request is a simple one", preflights)
			case tc.preflight != 0 && (len(preflights) == 0 || preflights[0].status != tc.preflight):
				t.Errorf("the gateway answered preflights %v, want one answered %d", preflights, tc.preflight)
			}
			switch {
			case tc.want == 0 && len(calls) > 0:
				t.Errorf("the gateway got %v from a disallowed origin, want nothing after the refused preflight", calls)
			case tc.want != 0 && (len(calls) != 1 || calls[0].method != http.MethodGet || calls[0].status != tc.want):
				t.Errorf("the gateway answered %v, want one GET answered %d", calls, tc.want)
			}
		})
	}
}
