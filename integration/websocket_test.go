package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

// dialChat opens SupportChat over WebSocket with header (the test API key unless header sets
// X-Api-Key to ""), returning the connection, or the HTTP status of the failed handshake.
func dialChat(t *testing.T, g *gateway, query string, header http.Header) (*websocket.Conn, int, error) {
	t.Helper()
	h := http.Header{"X-Api-Key": {testAPIKey}}
	for k, v := range header {
		h[k] = v
	}
	if h.Get("X-Api-Key") == "" {
		h.Del("X-Api-Key")
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	url := "ws" + strings.TrimPrefix(g.api, "http") + "/v1/orders:chat?" + query
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	code := 0
	if resp != nil {
		code = resp.StatusCode
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
	}
	if c != nil {
		t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, code, err
}

func readChat(t *testing.T, c *websocket.Conn) *ordersv1.SupportMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v, want text", typ)
	}
	m := &ordersv1.SupportMessage{}
	decodeProto(t, &response{body: data}, m)
	return m
}

func sendChat(t *testing.T, c *websocket.Conn, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	b, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// expectClose reads until the server closes the connection and checks the close code.
func expectClose(t *testing.T, c *websocket.Conn, want websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	for range 100 {
		_, data, err := c.Read(ctx)
		if err != nil {
			if got := websocket.CloseStatus(err); got != want {
				t.Fatalf("closed with %v (%v), want %v", got, err, want)
			}
			return
		}
		t.Logf("frame before the close: %s", data)
	}
	t.Fatal("no close after 100 frames")
}

// TestSupportChatOverWebSocket talks to the real SupportChat through the gateway's WebSocket
// bridge: answers, pushed changes, a clean close, the per-route chain on the upgrade request,
// origin checks, close codes mapped from the status, the message size limit and the idle timeout.
func TestSupportChatOverWebSocket(t *testing.T) {
	t.Parallel()
	sf := startStorefront(t, []string{"users", "orders", "catalog"}, nil, "")
	g := startGatewayConfig(t, gatewayConfig(sf.addrs)+`cors: {allowed_origins: ["https://shop.example.com"]}
streaming: {websocket: {max_message_bytes: 1024, idle_timeout: 1s}}
`)
	g.waitReady(t, startTimeout)

	t.Run("conversation", func(t *testing.T) {
		t.Parallel()
		o := createOrder(t, g, "users/hedy-lamarr", map[string]int{"sku-mug-ceramic-350": 1})
		c, resp, err := dialChat(t, g, "name="+o.GetName(), http.Header{"Origin": {"https://shop.example.com"}})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		sendChat(t, c, "hello")
		for i, want := range []string{"is ORDER_STATE_PENDING", "get back to you"} {
			m := readChat(t, c)
			if m.GetAuthor() != ordersv1.Author_AUTHOR_SUPPORT || m.GetName() != o.GetName() || !strings.Contains(m.GetText(), want) {
				t.Fatalf("message %d: %v, want support saying %q", i, m, want)
			}
		}
		mustOK(t, g.do(t, http.MethodPost, "/v1/"+o.GetName()+":advance", `{}`))
		if m := readChat(t, c); !strings.Contains(m.GetText(), "now ORDER_STATE_PAID") {
			t.Fatalf("after advancing: %v, want the change pushed", m)
		}
		sendChat(t, c, "please cancel it")
		if m := readChat(t, c); !strings.Contains(m.GetText(), "is cancelled") {
			t.Fatalf("after asking to cancel: %v", m)
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("close: %v", err)
		}
		got := &ordersv1.Order{}
		decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/"+o.GetName(), "")), got)
		if got.GetState() != ordersv1.OrderState_ORDER_STATE_CANCELLED {
			t.Errorf("order after the chat: %v, want CANCELLED", got)
		}
	})

	t.Run("refused upgrades", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name   string
			header http.Header
			want   int
		}{
			{"no credentials", http.Header{"X-Api-Key": {""}}, http.StatusUnauthorized},
			{"origin not allowed", http.Header{"Origin": {"https://evil.example.net"}}, http.StatusForbidden},
		} {
			_, resp, err := dialChat(t, g, "name=orders/ord-1001", tc.header)
			if err == nil || resp != tc.want {
				t.Errorf("%s: err %v, HTTP %d; want HTTP %d", tc.name, err, resp, tc.want)
			}
		}
		resp := g.do(t, http.MethodGet, "/v1/orders:chat?name=orders/ord-1001", "")
		if resp.code != http.StatusUpgradeRequired {
			t.Errorf("plain GET: %v, want 426", resp)
		}
	})

	t.Run("close codes", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name, query, frame string
			want               websocket.StatusCode
		}{
			{"missing order is NOT_FOUND", "name=orders/ord-none", `{"text":"hi"}`, 4005},
			{"invalid message is INVALID_ARGUMENT", "name=orders/ord-1001", `{"text":""}`, 4003},
			{"not JSON", "name=orders/ord-1001", `hello`, websocket.StatusInvalidFramePayloadData},
			{"too big", "name=orders/ord-1001", `{"text":"` + strings.Repeat("x", 2000) + `"}`, websocket.StatusMessageTooBig},
		} {
			c, resp, err := dialChat(t, g, tc.query, nil)
			if err != nil {
				t.Fatalf("%s: dial: %v (%v)", tc.name, err, resp)
			}
			ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
			err = c.Write(ctx, websocket.MessageText, []byte(tc.frame))
			cancel()
			if err != nil {
				t.Fatalf("%s: write: %v", tc.name, err)
			}
			t.Run(tc.name, func(t *testing.T) { expectClose(t, c, tc.want) })
		}
	})

	t.Run("idle timeout", func(t *testing.T) {
		t.Parallel()
		c, resp, err := dialChat(t, g, "name=orders/ord-1001", nil)
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		sendChat(t, c, "status?")
		start := time.Now()
		expectClose(t, c, websocket.StatusGoingAway)
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Errorf("closed after %v, before the 1s idle timeout", d)
		}
	})
}
