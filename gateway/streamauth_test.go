package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/archway-gateway/archway/gateway"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/testkit"
)

// testJWTSecret signs the HS256 tokens of hs256Token in the tests' gateways.
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

// streamAuthn is the authn section of a gateway that accepts testAPIKey, the tokens of
// hs256Token, and both of the browsers' ways to send them on streams.
func streamAuthn(jwks string) string {
	return testAuthn + fmt.Sprintf(`  jwt_issuers:
    - {issuer: "https://issuer.test", audiences: [archway], jwks_file: %q, algorithms: [HS256]}
  stream_credentials: {websocket_protocol: true, query_parameter: true}
`, jwks)
}

// mdRecorder records the metadata of every call the fake backends receive.
type mdRecorder struct {
	mu  sync.Mutex
	mds []metadata.MD
}

func (m *mdRecorder) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mds = append(m.mds, md)
}

func (m *mdRecorder) all() []metadata.MD {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]metadata.MD(nil), m.mds...)
}

// newRecordedEnv is newTestEnv with streamAuthn, an access log written to the returned buffer,
// the metadata of every backend call recorded, and orders as the OrderService.
func newRecordedEnv(t *testing.T, orders ordersv1.OrderServiceServer) (string, *mdRecorder, *testkit.LogBuffer) {
	t.Helper()
	rec := &mdRecorder{}
	listeners := map[string]*bufconn.Listener{"users": bufconn.Listen(1 << 20), "orders": bufconn.Listen(1 << 20)}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			rec.record(ctx)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			rec.record(ss.Context())
			return h(srv, ss)
		}))
	usersv1.RegisterUserServiceServer(srv, &fakeUsers{})
	ordersv1.RegisterOrderServiceServer(srv, orders)
	for _, l := range listeners {
		go func() { _ = srv.Serve(l) }()
	}
	t.Cleanup(srv.Stop)
	logs := &testkit.LogBuffer{}
	dialer := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return listeners[addr].DialContext(ctx)
	})
	_, url := serveGateway(t, `
admin: {enabled: false}
log: {access_log: true}
backends:
  - {name: users, address: "passthrough:///users", services: [storefront.users.v1.UserService]}
  - {name: orders, address: "passthrough:///orders", services: [storefront.orders.v1.OrderService]}
`+streamAuthn(writeJWKS(t)),
		gateway.WithLogger(slog.New(slog.NewTextHandler(logs, nil))), gateway.WithDialOptions(dialer))
	return url, rec, logs
}

// TestStreamCredentials sends the credential of streams as browsers do, in the query and in a
// WebSocket subprotocol: the streams are served as the caller, the credential reaches neither
// the backend nor the access log, and the gateway never echoes it; other routes refuse it.
func TestStreamCredentials(t *testing.T) {
	t.Parallel()
	base, rec, logs := newRecordedEnv(t, &fakeOrders{})
	tok := hs256Token(testJWTSecret, "ada")
	wsBase := "ws" + strings.TrimPrefix(base, "http")

	t.Run("EventSource with access_token", func(t *testing.T) {
		t.Parallel()
		resp, r := openSSE(t, base+"/v1/orders/ord-1:watch?access_token="+url.QueryEscape(tok), "")
		evs := readAllEvents(t, r)
		if resp.StatusCode != http.StatusOK || len(evs) != 4 || evs[3].Event != "end" {
			t.Fatalf("HTTP %d, events %+v; want 200, three orders and the end", resp.StatusCode, evs)
		}
	})
	t.Run("EventSource with api_key", func(t *testing.T) {
		t.Parallel()
		resp, r := openSSE(t, base+"/v1/orders/ord-1:watch?api_key="+testAPIKey, "")
		if evs := readAllEvents(t, r); resp.StatusCode != http.StatusOK || len(evs) != 4 {
			t.Fatalf("HTTP %d, events %+v; want 200 and four events", resp.StatusCode, evs)
		}
	})
	for _, tc := range []struct {
		name      string
		query     string
		protocols []string
	}{
		{"WebSocket with a bearer subprotocol", "", []string{"archway.v1", "archway.bearer." + tok}},
		{"WebSocket with an API key subprotocol", "", []string{"archway.v1", "archway.apikey." + testAPIKey}},
		{"WebSocket with access_token", "&access_token=" + tok, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsBase+"/v1/orders:chat?name=orders/ord-1"+tc.query,
				&websocket.DialOptions{Subprotocols: tc.protocols})
			if resp != nil && resp.Body != nil {
				_ = resp.Body.Close()
			}
			if err != nil {
				t.Fatalf("dial: %v (HTTP %v)", err, resp)
			}
			defer func() { _ = c.CloseNow() }()
			wantProtocol := ""
			if tc.protocols != nil {
				wantProtocol = "archway.v1"
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); c.Subprotocol() != wantProtocol || len(got) > 1 {
				t.Errorf("the gateway answered Sec-WebSocket-Protocol %q, want %q", got, wantProtocol)
			}
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"text":"hi"}`)); err != nil {
				t.Fatal(err)
			}
			if _, data, err := c.Read(ctx); err != nil || string(data) != `{"name":"orders/ord-1","text":"HI"}` {
				t.Fatalf("echo: %s %v", data, err)
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	for _, tc := range []struct {
		name, path string
		events     bool
	}{
		{"a unary route", "/v1/users/ada?access_token=" + tok, true},
		{"a unary route, api_key", "/v1/users/ada?api_key=" + testAPIKey, false},
		{"a server stream read as NDJSON", "/v1/orders/ord-1:watch?access_token=" + tok, false},
	} {
		t.Run("query token refused on "+tc.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{"X-Api-Key": ""}
			if tc.events {
				h["Accept"] = "text/event-stream"
			}
			resp, body := do(t, http.MethodGet, base+tc.path, "", h)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "accepted only on streaming requests") {
				t.Errorf("HTTP %d %s, want 400 naming the streaming requests", resp.StatusCode, body)
			}
		})
	}
	// Runs once the parallel subtests have ended, before the servers stop.
	t.Cleanup(func() {
		mds := rec.all()
		if len(mds) < 5 {
			t.Errorf("the backends got %d calls, want at least 5", len(mds))
		}
		for _, md := range mds {
			for k, vs := range md {
				for _, v := range vs {
					if strings.Contains(v, tok) || strings.Contains(v, testAPIKey) || strings.Contains(v, "archway.bearer") {
						t.Errorf("the backend got the credential in metadata %s: %q", k, v)
					}
				}
			}
		}
		log := logs.String()
		if strings.Contains(log, tok) || strings.Contains(log, "api_key="+testAPIKey) || !strings.Contains(log, "access_token=REDACTED") {
			t.Errorf("the access log shows a credential, or no redacted one:\n%s", log)
		}
	})
}
