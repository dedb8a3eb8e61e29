package browsertest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/internal/apitest"
	"github.com/archway-gateway/archway/internal/browsertest"
	"github.com/archway-gateway/archway/openapi"
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

// servePage serves page on a new loopback port, which makes it an origin of its own, and
// returns that origin.
func servePage(t *testing.T, page string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// testAPIKey is an API key of the gateways of storefrontGateway: testAuthn configures it for
// a client that holds every scope of the storefront APIs.
const testAPIKey = "test-key"

// testAuthn is the authn section of a gateway that accepts testAPIKey.
const testAuthn = `
authn:
  api_keys:
    - client_id: tester
      sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef
      scopes: [users.read, users.write, orders.write, orders.admin, catalog.write]
`

// testJWTSecret signs the HS256 tokens of hs256Token.
var testJWTSecret = []byte(strings.Repeat("s", 32))

// writeJWKS writes the key set of testJWTSecret, as hs256Token's kid names it, and returns its
// path.
func writeJWKS(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, fmt.Appendf(nil, `{"keys":[{"kty":"oct","kid":"hs-1","alg":"HS256","k":%q}]}`,
		base64.RawURLEncoding.EncodeToString(testJWTSecret)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// streamAuthn is the authn section of a gateway that accepts testAPIKey, the tokens of
// hs256Token, and both of the browsers' ways to send them on streams.
func streamAuthn(jwks string) string {
	return testAuthn + fmt.Sprintf(`  jwt_issuers:
    - {issuer: "https://issuer.test", audiences: [archway], jwks_file: %q, algorithms: [HS256]}
  stream_credentials: {websocket_protocol: true, query_parameter: true}
`, jwks)
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

// storefrontGateway starts the storefront servers (the demo backends) and a gateway in front
// of them, configured by the YAML in extra after the backends, and returns the gateway's
// handler.
func storefrontGateway(t *testing.T, extra string) http.Handler {
	t.Helper()
	sf, err := server.Start(t.Context(), server.Options{})
	if err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(sf.Stop)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
admin: {enabled: false}
log: {access_log: false}
backends:
  - {name: users, address: %q, services: [storefront.users.v1.UserService]}
  - {name: orders, address: %q, services: [storefront.orders.v1.OrderService]}
  - {name: catalog, address: %q, services: [storefront.catalog.v1.CatalogService]}
`, sf.Addr(server.Users), sf.Addr(server.Orders), sf.Addr(server.Catalog))+extra), nil)
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	gw, err := gateway.New(t.Context(), cfg, gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	return gw.Handler()
}

// TestBrowserCORS loads pages from other origins into headless Chromium and has them call a
// real gateway over the storefront servers with fetch: the browser enforces CORS, so what the
// page gets is what a shop's front end would get. Allowed origins get through the preflight
// with either credential and read the answer; a disallowed origin's preflight is refused and
// its fetch fails before the request is sent.
func TestBrowserCORS(t *testing.T) {
	t.Parallel()
	browser := browsertest.Start(t)

	keyOrigin, tokenOrigin, anonOrigin, otherOrigin := servePage(t, corsPage), servePage(t, corsPage), servePage(t, corsPage), servePage(t, corsPage)
	requests := &requestLog{}
	api := httptest.NewServer(requests.wrap(storefrontGateway(t, fmt.Sprintf(`
cors:
  allowed_origins: [%q, %q, %q]
`, keyOrigin, tokenOrigin, anonOrigin)+streamAuthn(writeJWKS(t)))))
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
			case tc.want != 0 && (len(calls) != 1 || calls[0].method != http.MethodGet || !answered(calls[0].status, tc.want)):
				t.Errorf("the gateway answered %v, want one GET answered %d", calls, tc.want)
			}
		})
	}
}

// documentedOperations returns the element ids under which Swagger UI lists the operations of
// the published OpenAPI v2 document: "operations-<tag>-<operationId>".
func documentedOperations(t *testing.T) []string {
	t.Helper()
	raw, err := fs.ReadFile(openapi.FS, openapi.V2)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string   `json:"operationId"`
			Tags        []string `json:"tags"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ops := range doc.Paths {
		for _, op := range ops {
			tag := "default"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			ids = append(ids, "operations-"+tag+"-"+op.OperationID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestBrowserDocs opens the docs page of a gateway over the storefront servers: it must list
// every operation of the published document, and its "Try it out" flow must call the gateway
// and show the answer, as a developer reading the docs would.
func TestBrowserDocs(t *testing.T) {
	t.Parallel()
	browser := browsertest.Start(t)
	api := httptest.NewServer(storefrontGateway(t, testAuthn))
	t.Cleanup(api.Close)
	want := documentedOperations(t)
	page := browser.NewPage(t)
	page.Do(chromedp.Navigate(api.URL + "/docs"))

	got := browsertest.Run(page, chromedp.Poll[[]string](fmt.Sprintf(`(() => {
		const ids = Array.from(document.querySelectorAll(".opblock"), e => e.id);
		return ids.length >= %d && ids;
	})()`, len(want))))
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the page lists operations\n%v\nwant the document's\n%v", got, want)
	}

	const op = "#operations-CatalogService-CatalogService_ListProducts"
	page.Do(
		chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .execute")),
	)
	type shown struct {
		Status string `json:"status"`
		URL    string `json:"url"`
		Body   string `json:"body"`
	}
	res := browsertest.Run(page, chromedp.Poll[shown](`(() => {
		const live = document.querySelector("`+op+` .live-responses-table tbody .response");
		if (!live) return false;
		const text = sel => (live.querySelector(sel) || {}).textContent || "";
		const url = document.querySelector("`+op+` .request-url pre");
		return {status: text(".response-col_status").trim(), url: url ? url.textContent : "", body: text(".response-col_description pre")};
	})()`))
	if res.Status != "200" || !strings.HasPrefix(res.URL, api.URL+"/v1/products") || !strings.Contains(res.Body, `"sku-aeropress"`) {
		t.Errorf("try it out showed %+v, want 200 from %s/v1/products with the products", res, api.URL)
	}
}

// eventSourcePage follows the server stream at its query's url with EventSource and keeps
// every order event in window.states as it arrives; window.ended turns true on the end event,
// and window.failure holds an error event's data or a failed connection.
const eventSourcePage = `<!doctype html>
<title>order tracker</title>
<ol id="states"></ol>
<script>
window.states = [];
window.ended = false;
window.failure = "";
const es = new EventSource(new URLSearchParams(location.search).get("url"));
es.onmessage = (e) => {
  const state = JSON.parse(e.data).order.state;
  window.states.push(state);
  document.getElementById("states").insertAdjacentHTML("beforeend", "<li>" + state + "</li>");
};
es.addEventListener("end", () => { window.ended = true; es.close(); });
es.addEventListener("error", (e) => {
  if (e.data || es.readyState === EventSource.CLOSED) { window.failure = e.data || "connection failed"; es.close(); }
});
</script>
`

// apiClient checks every response to an API request against the published OpenAPI documents
// (see internal/apitest): one that does not match fails the request.
var apiClient = &http.Client{Transport: apitest.Transport(nil)}

// advanceOrder moves a storefront order to its next state through the gateway, with
// testAPIKey.
func advanceOrder(t *testing.T, apiURL, order string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, apiURL+"/v1/"+order+":advance", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("advance %s: %v", order, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("advance %s: HTTP %d %s", order, resp.StatusCode, body)
	}
}

// TestBrowserEventSource has a page of another origin follow an order with EventSource,
// authenticated by an access_token in the query, while the test moves the order on: each
// state must reach the page when it happens, not when the stream ends.
func TestBrowserEventSource(t *testing.T) {
	t.Parallel()
	browser := browsertest.Start(t)
	origin := servePage(t, eventSourcePage)
	api := httptest.NewServer(storefrontGateway(t, fmt.Sprintf("cors: {allowed_origins: [%q]}\n", origin)+streamAuthn(writeJWKS(t))))
	t.Cleanup(api.Close)
	const order = "orders/ord-1024" // pending in the seed
	page := browser.NewPage(t)
	watch := api.URL + "/v1/" + order + ":watch?access_token=" + hs256Token(testJWTSecret, "ada-lovelace")
	page.Do(chromedp.Navigate(origin + "/?" + url.Values{"url": {watch}}.Encode()))

	states := []string{"ORDER_STATE_PENDING", "ORDER_STATE_PAID", "ORDER_STATE_SHIPPED", "ORDER_STATE_DELIVERED"}
	for i := range states {
		if i > 0 {
			advanceOrder(t, api.URL, order)
		}
		got := browsertest.Run(page, chromedp.Poll[[]string](fmt.Sprintf(
			`window.failure ? [window.failure] : window.states.length >= %d && window.states`, i+1)))
		if !slices.Equal(got, states[:i+1]) {
			t.Fatalf("after %d changes the page has %v, want %v", i, got, states[:i+1])
		}
		if i < len(states)-1 && browsertest.Run(page, chromedp.Evaluate[bool](`window.ended`)) {
			t.Fatalf("the stream ended after %v", got)
		}
	}
	if !browsertest.Run(page, chromedp.Poll[bool](`window.ended || window.failure !== ""`)) ||
		browsertest.Run(page, chromedp.Evaluate[string](`window.failure`)) != "" {
		t.Errorf("the stream of a delivered order did not end with the end event")
	}
}

// webSocketPage opens a WebSocket to its query's url, offering the JSON list of subprotocols
// in its query. window.opened resolves to the selected subprotocol, or to the close code when
// the connection fails; window.received collects the messages, and window.closeEvent the
// close event (window.closed is the browser's own).
const webSocketPage = `<!doctype html>
<title>support chat</title>
<ol id="chat"></ol>
<script>
const q = new URLSearchParams(location.search);
window.received = [];
window.closeEvent = null;
window.opened = new Promise((resolve) => {
  const ws = new WebSocket(q.get("url"), JSON.parse(q.get("protocols")));
  window.ws = ws;
  ws.onopen = () => resolve({protocol: ws.protocol});
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    window.received.push(m.text);
    document.getElementById("chat").insertAdjacentHTML("beforeend", "<li>" + m.text + "</li>");
  };
  ws.onclose = (e) => { window.closeEvent = {code: e.code, reason: e.reason}; resolve({code: e.code}); };
});
</script>
`

// opened is what webSocketPage's window.opened resolves to.
type opened struct {
	Protocol *string `json:"protocol"`
	Code     int     `json:"code"`
}

// TestBrowserWebSocket has pages chat with support over the WebSocket bridge, sending a bearer
// token as a subprotocol: a page of an allowed origin talks both ways, hears of the order's
// changes as they happen, and ends the chat with the end marker; a page of another origin is
// refused at the upgrade.
func TestBrowserWebSocket(t *testing.T) {
	t.Parallel()
	browser := browsertest.Start(t)
	allowed, other := servePage(t, webSocketPage), servePage(t, webSocketPage)
	requests := &requestLog{}
	api := httptest.NewServer(requests.wrap(storefrontGateway(t, fmt.Sprintf("cors: {allowed_origins: [%q]}\n", allowed)+streamAuthn(writeJWKS(t)))))
	t.Cleanup(api.Close)
	protocols := `["archway.v1", "archway.bearer.` + hs256Token(testJWTSecret, "konrad-zuse") + `"]`

	t.Run("allowed origin", func(t *testing.T) {
		t.Parallel()
		const order = "orders/ord-1021" // pending in the seed
		chat := "ws" + strings.TrimPrefix(api.URL, "http") + "/v1/orders:chat?name=" + order
		page := browser.NewPage(t)
		page.Do(chromedp.Navigate(allowed + "/?" + url.Values{"url": {chat}, "protocols": {protocols}}.Encode()))
		got := browsertest.Run(page, chromedp.Evaluate[opened](`window.opened`, chromedp.EvalAwaitPromise))
		if got.Protocol == nil || *got.Protocol != "archway.v1" {
			t.Fatalf("the page's WebSocket opened with %+v, want subprotocol archway.v1", got)
		}
		page.Do(chromedp.Evaluate[chromedp.Void](`window.ws.send(JSON.stringify({text: "where is my order?"}))`))
		msgs := browsertest.Run(page, chromedp.Poll[[]string](`window.closeEvent ? [JSON.stringify(window.closeEvent)] : window.received.length >= 2 && window.received`))
		if len(msgs) != 2 || !strings.HasPrefix(msgs[0], "Hello!") || msgs[1] != "Order "+order+" is ORDER_STATE_PENDING." {
			t.Fatalf("the page received %q, want the greeting and the order's state", msgs)
		}
		advanceOrder(t, api.URL, order)
		msgs = browsertest.Run(page, chromedp.Poll[[]string](`window.closeEvent ? [JSON.stringify(window.closeEvent)] : window.received.length >= 3 && window.received`))
		if len(msgs) != 3 || msgs[2] != "Order "+order+" is now ORDER_STATE_PAID." {
			t.Fatalf("the page received %q, want the news of the payment last", msgs)
		}
		// The end marker: support hears the customer is done, and the gateway closes the chat.
		page.Do(chromedp.Evaluate[chromedp.Void](`window.ws.send("")`))
		if code := browsertest.Run(page, chromedp.Poll[int](`window.closeEvent && window.closeEvent.code`)); code != 1000 {
			t.Errorf("the chat closed with %d, want 1000", code)
		}
	})
	t.Run("disallowed origin", func(t *testing.T) {
		t.Parallel()
		chat := "ws" + strings.TrimPrefix(api.URL, "http") + "/v1/orders:chat?name=orders/ord-1020"
		page := browser.NewPage(t)
		page.Do(chromedp.Navigate(other + "/?" + url.Values{"url": {chat}, "protocols": {protocols}}.Encode()))
		got := browsertest.Run(page, chromedp.Evaluate[opened](`window.opened`, chromedp.EvalAwaitPromise))
		if got.Protocol != nil || got.Code != 1006 {
			t.Errorf("the page's WebSocket gave %+v, want it refused (1006)", got)
		}
		if seen := requests.from(other); len(seen) != 1 || seen[0].status != http.StatusForbidden {
			t.Errorf("the gateway answered %v, want one upgrade refused with 403", seen)
		}
	})
}

// answered reports whether the gateway's status got is the answer want: a 200 may also be a 304,
// when the browser revalidated the response another page had cached (the bodies are equal, so
// are their ETags).
func answered(got, want int) bool {
	return got == want || (want == http.StatusOK && got == http.StatusNotModified)
}
