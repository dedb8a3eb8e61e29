package authn_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/authn"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
	_ "github.com/archway-gateway/archway/gen/storefront/orders/v1" // the descriptors of watch and chat
)

var (
	// watch is a server-streaming route, served as Server-Sent Events on request.
	watch = &policy.Policy{Method: "/storefront.orders.v1.OrderService/WatchOrder", Descriptor: policy.LinkedMethod("/storefront.orders.v1.OrderService/WatchOrder"), Authenticated: true}
	// chat is a bidirectional route, served over WebSocket.
	chat = &policy.Policy{Method: "/storefront.orders.v1.OrderService/SupportChat", Descriptor: policy.LinkedMethod("/storefront.orders.v1.OrderService/SupportChat"), Authenticated: true}
)

// streamRequest is a request as a browser's EventSource (events) or WebSocket (upgrade)
// sends it, or a plain one, with a query and subprotocols.
type streamRequest struct {
	events, upgrade bool
	query           url.Values
	protocols       string
	header          http.Header
}

// passed is what the handler after the middleware saw of the request.
type passed struct {
	query     url.Values
	rawQuery  string
	form      url.Values
	protocols []string
	header    http.Header
}

// serveStream sends sr through a's middleware on a route with policy p.
func serveStream(t testing.TB, a *authn.Authenticator, p *policy.Policy, sr streamRequest) (result, passed) {
	t.Helper()
	var res result
	var seen passed
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res.reached = true
		res.identity, res.hasID = edge.StateFrom(r.Context()).Identity()
		seen.rawQuery = r.URL.RawQuery
		seen.query = r.URL.Query()
		if err := r.ParseForm(); err != nil {
			t.Errorf("ParseForm: %v", err)
		}
		seen.form = r.Form
		seen.protocols = r.Header.Values("Sec-WebSocket-Protocol")
		seen.header = r.Header
		w.WriteHeader(http.StatusOK)
	})
	r := httptest.NewRequest(http.MethodGet, "/v1/orders/ord-1:watch?"+sr.query.Encode(), nil)
	for k, vs := range sr.header {
		r.Header[k] = vs
	}
	if sr.events {
		r.Header.Set("Accept", "text/event-stream")
	}
	if sr.upgrade {
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
	}
	if sr.protocols != "" {
		r.Header.Set("Sec-WebSocket-Protocol", sr.protocols)
	}
	r, _ = edge.WithState(r, "req-1")
	r = r.WithContext(policy.NewContext(r.Context(), p))
	w := httptest.NewRecorder()
	a.Middleware(next).ServeHTTP(w, r)
	res.code, res.header, res.body = w.Code, w.Result().Header, w.Body.String()
	return res, seen
}

func streamConfig(t testing.TB, protocol, query bool) config.Authn {
	cfg := testConfig(t)
	cfg.StreamCredentials = config.StreamCredentials{WebSocketProtocol: protocol, QueryParameter: query}
	return cfg
}

// TestStreamCredentials checks where browsers' streaming requests may carry their credentials,
// and that the handler after the middleware never sees them.
func TestStreamCredentials(t *testing.T) {
	t.Parallel()
	tok := token(t, keyES256, valid())
	ada := &edge.Identity{Subject: "ada", ClientID: "web", Scopes: []string{"users.read", "orders.write"}, Kind: "jwt", Issuer: testIssuer}
	demo := &edge.Identity{Subject: "demo", ClientID: "demo", Scopes: []string{"orders.write", "users.write"}, Kind: "api_key"}
	q := func(kv ...string) url.Values {
		v := url.Values{"name": {"orders/ord-1"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name            string
		protocol, query bool // authn.stream_credentials
		policy          *policy.Policy
		req             streamRequest
		code            int
		reason          string
		msg             string
		id              *edge.Identity
		// protocols is what the next handler sees of Sec-WebSocket-Protocol.
		protocols string
	}{
		{name: "EventSource with access_token", query: true, policy: watch,
			req: streamRequest{events: true, query: q("access_token", tok)}, code: 200, id: ada},
		{name: "EventSource with api_key", query: true, policy: watch,
			req: streamRequest{events: true, query: q("api_key", demoKey)}, code: 200, id: demo},
		{name: "WebSocket with a bearer subprotocol", protocol: true, policy: chat,
			req:  streamRequest{upgrade: true, protocols: "archway.v1, archway.bearer." + tok},
			code: 200, id: ada, protocols: "archway.v1"},
		{name: "WebSocket with an API key subprotocol, in two headers", protocol: true, policy: chat,
			req:  streamRequest{upgrade: true, header: http.Header{"Sec-Websocket-Protocol": {"archway.apikey." + demoKey, "chat.v2, archway.v1"}}},
			code: 200, id: demo, protocols: "chat.v2, archway.v1"},
		{name: "WebSocket with access_token", query: true, policy: chat,
			req: streamRequest{upgrade: true, protocols: "archway.v1", query: q("access_token", tok)}, code: 200, id: ada, protocols: "archway.v1"},
		{name: "public stream with a valid query token", query: true, policy: &policy.Policy{Method: watch.Method, Descriptor: watch.Descriptor},
			req: streamRequest{events: true, query: q("access_token", tok)}, code: 200, id: ada},

		{name: "access_token on a unary route", query: true, policy: authenticated,
			req: streamRequest{events: true, query: q("access_token", tok)}, code: 400, reason: "malformed", msg: "accepted only on streaming requests"},
		{name: "api_key on a unary route", query: true, policy: public,
			req: streamRequest{query: q("api_key", demoKey)}, code: 400, reason: "malformed", msg: "accepted only on streaming requests"},
		{name: "access_token on a stream read as NDJSON", query: true, policy: watch,
			req: streamRequest{query: q("access_token", tok)}, code: 400, reason: "malformed", msg: "accepted only on streaming requests"},
		{name: "access_token on a WebSocket route without the upgrade", query: true, policy: chat,
			req: streamRequest{query: q("access_token", tok)}, code: 400, reason: "malformed", msg: "accepted only on streaming requests"},
		{name: "access_token on events from a WebSocket route", query: true, policy: chat,
			req: streamRequest{events: true, query: q("access_token", tok)}, code: 400, reason: "malformed"},
		{name: "bearer subprotocol without the upgrade", protocol: true, policy: chat,
			req: streamRequest{protocols: "archway.v1, archway.bearer." + tok}, code: 400, reason: "malformed", msg: "only on a WebSocket upgrade"},
		{name: "bearer subprotocol to a server stream", protocol: true, policy: watch,
			req: streamRequest{upgrade: true, protocols: "archway.v1, archway.bearer." + tok}, code: 400, reason: "malformed"},
		{name: "bearer subprotocol without archway.v1", protocol: true, policy: chat,
			req: streamRequest{upgrade: true, protocols: "archway.bearer." + tok}, code: 400, reason: "malformed", msg: `offer the "archway.v1" subprotocol`},

		{name: "header and query", query: true, policy: watch,
			req:  streamRequest{events: true, query: q("access_token", tok), header: http.Header{"X-Api-Key": {demoKey}}},
			code: 401, reason: "malformed", msg: "send one credential"},
		{name: "access_token and api_key", query: true, policy: watch,
			req: streamRequest{events: true, query: q("access_token", tok, "api_key", demoKey)}, code: 401, reason: "malformed", msg: "send one credential"},
		{name: "two access_tokens", query: true, policy: watch,
			req: streamRequest{events: true, query: q("access_token", tok, "access_token", tok)}, code: 401, reason: "malformed", msg: "send one credential"},
		{name: "two bearer subprotocols", protocol: true, policy: chat,
			req: streamRequest{upgrade: true, protocols: "archway.v1, archway.bearer." + tok + ", archway.bearer." + tok}, code: 401, reason: "malformed"},
		{name: "expired query token", query: true, policy: watch,
			req:  streamRequest{events: true, query: q("access_token", token(t, keyES256, valid().with("exp", now.Add(-time.Hour).Unix())))},
			code: 401, reason: "expired", msg: "has expired"},
		{name: "query token of other characters", query: true, policy: watch,
			req: streamRequest{events: true, query: q("access_token", "a b")}, code: 401, reason: "malformed", msg: "not a well-formed"},
		{name: "empty bearer subprotocol", protocol: true, policy: chat,
			req: streamRequest{upgrade: true, protocols: "archway.v1, archway.bearer."}, code: 401, reason: "malformed"},
		{name: "bad API key subprotocol", protocol: true, policy: chat,
			req: streamRequest{upgrade: true, protocols: "archway.v1, archway.apikey.guess"}, code: 401, reason: "bad_api_key", msg: "the API key is not valid"},

		{name: "query credentials off", protocol: true, policy: watch,
			req: streamRequest{events: true, query: q("access_token", tok)}, code: 401, reason: "missing"},
		{name: "subprotocol credentials off", query: true, policy: chat,
			req: streamRequest{upgrade: true, protocols: "archway.v1, archway.bearer." + tok}, code: 401, reason: "missing"},
		{name: "both off, on a public route", policy: &policy.Policy{Method: chat.Method, Descriptor: chat.Descriptor},
			req:  streamRequest{upgrade: true, protocols: "archway.v1, archway.apikey." + demoKey, query: q("api_key", demoKey)},
			code: 200, protocols: "archway.v1, archway.apikey." + demoKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, reg := newAuthenticator(t, streamConfig(t, tc.protocol, tc.query), authn.WithClock(func() time.Time { return now }))
			res, seen := serveStream(t, a, tc.policy, tc.req)
			if res.code != tc.code {
				t.Fatalf("status %d, want %d; body %s", res.code, tc.code, res.body)
			}
			if res.reached != (tc.code == 200) {
				t.Errorf("next handler reached: %v, want %v", res.reached, tc.code == 200)
			}
			if tc.id != nil && (!res.hasID || !sameIdentity(res.identity, *tc.id)) {
				t.Errorf("identity = %+v (%v), want %+v", res.identity, res.hasID, *tc.id)
			}
			if tc.id == nil && res.hasID {
				t.Errorf("identity = %+v, want none", res.identity)
			}
			if tc.reason != "" {
				if got := counter(t, reg, "archway_authn_failures_total", "reason", tc.reason); got != 1 {
					t.Errorf("archway_authn_failures_total{reason=%q} = %v, want 1", tc.reason, got)
				}
			}
			if tc.code != 200 {
				checkStreamRefusal(t, res, tc.code, tc.msg)
				return
			}
			if got := strings.Join(seen.protocols, ", "); got != tc.protocols {
				t.Errorf("next handler saw Sec-WebSocket-Protocol %q, want %q", got, tc.protocols)
			}
			if !tc.query {
				if seen.rawQuery != tc.req.query.Encode() {
					t.Errorf("next handler saw query %q, want it untouched: %q", seen.rawQuery, tc.req.query.Encode())
				}
				return
			}
			for _, vs := range []url.Values{seen.query, seen.form} {
				if vs.Has("access_token") || vs.Has("api_key") || vs.Get("name") != "orders/ord-1" {
					t.Errorf("next handler saw query %v (form %v), want only name=orders/ord-1", seen.query, seen.form)
				}
			}
		})
	}
}

// checkStreamRefusal checks the body and challenge of a refused streaming request.
func checkStreamRefusal(t *testing.T, res result, code int, msg string) {
	t.Helper()
	checkStatusBody(t, res, code, msg)
	challenge := res.header.Get("WWW-Authenticate")
	if code == 400 && !strings.HasPrefix(challenge, `Bearer realm="archway", error="invalid_request", error_description="`) {
		t.Errorf("WWW-Authenticate = %q, want an invalid_request challenge", challenge)
	}
	if code == 401 && !strings.HasPrefix(challenge, `Bearer realm="archway"`) {
		t.Errorf("WWW-Authenticate = %q, want a challenge of realm archway", challenge)
	}
}

// FuzzStreamCredentials sends any subprotocols and query to a public WebSocket route: the
// middleware must not fail, and whatever it lets through carries no credential.
func FuzzStreamCredentials(f *testing.F) {
	for _, seed := range [][2]string{
		{"archway.v1, archway.bearer.abc.def.ghi", "name=orders/ord-1"},
		{"archway.apikey." + demoKey + ",archway.v1", ""},
		{",,archway.v1 ,", "access_token=x&access_token=y"},
		{"archway.bearer.", "api_key=%zz;a=b"},
		{"", "access_token=" + strings.Repeat("a", 20000)},
	} {
		f.Add(seed[0], seed[1])
	}
	a, _ := newAuthenticator(f, streamConfig(f, true, true), authn.WithClock(func() time.Time { return now }))
	publicChat := &policy.Policy{Method: chat.Method, Descriptor: chat.Descriptor}
	f.Fuzz(func(t *testing.T, protocols, rawQuery string) {
		query, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		res, seen := serveStream(t, a, publicChat, streamRequest{upgrade: true, protocols: protocols, query: query})
		if !res.reached {
			return
		}
		for _, p := range seen.protocols {
			if strings.Contains(p, authn.BearerProtocolPrefix) || strings.Contains(p, authn.APIKeyProtocolPrefix) {
				t.Errorf("next handler saw Sec-WebSocket-Protocol %q", p)
			}
		}
		if seen.query.Has(authn.AccessTokenParameter) || seen.query.Has(authn.APIKeyParameter) {
			t.Errorf("next handler saw query %q", seen.rawQuery)
		}
	})
}
