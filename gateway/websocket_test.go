package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

func dialWS(t *testing.T, env *testEnv, origin string) (*websocket.Conn, int, error) {
	t.Helper()
	return dialChat(t, env.url, origin)
}

// dialChat opens the support chat of orders/ord-1 on the gateway at baseURL.
func dialChat(t *testing.T, baseURL, origin string) (*websocket.Conn, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	h := http.Header{"X-Api-Key": {testAPIKey}}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/v1/orders:chat?name=orders/ord-1", &websocket.DialOptions{HTTPHeader: h})
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

// TestWebSocketBridge checks the frames each way, the query parameters set on every message,
// and the close code and reason for each way a chat ends.
func TestWebSocketBridge(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	tests := []struct {
		last       string
		wantCode   websocket.StatusCode
		wantReason string
	}{
		{"", websocket.StatusNormalClosure, ""},
		{"INTERNAL", websocket.StatusInternalError, "request id"},
		{"PERMISSION_DENIED", websocket.StatusPolicyViolation, "secret"},
		{"UNAUTHENTICATED", websocket.StatusInternalError, "request id"},
		{"UNAVAILABLE", websocket.StatusTryAgainLater, "request id"},
		{"NOT_FOUND", 4005, "secret"},
		{"FAILED_PRECONDITION", 4009, "secret"},
	}
	for _, tc := range tests {
		t.Run("ends with "+tc.last, func(t *testing.T) {
			t.Parallel()
			c, code, err := dialWS(t, env, "")
			if err != nil {
				t.Fatalf("dial: %v (HTTP %d)", err, code)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"text":"hello"}`)); err != nil {
				t.Fatal(err)
			}
			typ, data, err := c.Read(ctx)
			if err != nil || typ != websocket.MessageText || string(data) != `{"name":"orders/ord-1","text":"HELLO"}` {
				t.Fatalf("echo: %v %s %v", typ, data, err)
			}
			if tc.last == "" {
				if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
					t.Errorf("close: %v", err)
				}
				return
			}
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"text":"`+tc.last+`"}`)); err != nil {
				t.Fatal(err)
			}
			_, _, err = c.Read(ctx)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.wantCode {
				t.Fatalf("closed with %v, want code %d", err, tc.wantCode)
			}
			hidden := tc.wantReason == "request id"
			if !strings.Contains(ce.Reason, tc.wantReason) || hidden == strings.Contains(ce.Reason, "/var/lib") {
				t.Errorf("close reason %q, want it to contain %q", ce.Reason, tc.wantReason)
			}
		})
	}
}

func TestWebSocketOrigins(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, `cors: {allowed_origins: ["https://shop.example.com"]}`+"\n", nil)
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{env.url, true},
		{"https://shop.example.com", true},
		{"https://evil.example.net", false},
	} {
		_, code, err := dialWS(t, env, tc.origin)
		if tc.ok && err != nil {
			t.Errorf("origin %q: %v (HTTP %d), want accepted", tc.origin, err, code)
		}
		if !tc.ok && (err == nil || code != http.StatusForbidden) {
			t.Errorf("origin %q: HTTP %d, want 403", tc.origin, code)
		}
	}
}

// countingOrders answers SupportChat as a client-streaming RPC would: nothing until the
// client's messages end, then one message that counts them; or, when one of them was "hold",
// nothing until the call ends.
type countingOrders struct {
	ordersv1.UnimplementedOrderServiceServer
}

func (countingOrders) SupportChat(stream grpc.BidiStreamingServer[ordersv1.SupportMessage, ordersv1.SupportMessage]) error {
	var texts []string
	for range 100 {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if slices.Contains(texts, "hold") {
				// Never answers: what the client sends after the marker meets a chat still open.
				<-stream.Context().Done()
				return status.FromContextError(stream.Context().Err()).Err()
			}
			return stream.Send(&ordersv1.SupportMessage{Text: fmt.Sprintf("got %d: %s", len(texts), strings.Join(texts, " "))})
		}
		if err != nil {
			return err
		}
		texts = append(texts, m.GetText())
	}
	return status.Error(codes.ResourceExhausted, "too many messages")
}

// TestWebSocketEndMarker ends the client's side of chats with the end marker, an empty text
// frame: the response that the backend sends only then still reaches the client, and nothing
// may follow the marker.
func TestWebSocketEndMarker(t *testing.T) {
	t.Parallel()
	base, _, _ := newRecordedEnv(t, countingOrders{})
	for _, tc := range []struct {
		name       string
		send       []string
		want       []string
		wantCode   websocket.StatusCode
		wantReason string
	}{
		{"messages, then the marker", []string{`{"text":"one"}`, `{"text":"two"}`, ""}, []string{`{"text":"got 2: one two"}`}, websocket.StatusNormalClosure, ""},
		{"the marker alone", []string{""}, []string{`{"text":"got 0: "}`}, websocket.StatusNormalClosure, ""},
		{"a message after the marker", []string{`{"text":"hold"}`, "", `{"text":"two"}`}, nil, 4003, "no message may follow the end marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/orders:chat?name=orders/ord-1",
				&websocket.DialOptions{HTTPHeader: http.Header{"X-Api-Key": {testAPIKey}}})
			if resp != nil && resp.Body != nil {
				_ = resp.Body.Close()
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer func() { _ = c.CloseNow() }()
			for _, m := range tc.send {
				if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for range 10 {
				_, data, err := c.Read(ctx)
				if err != nil {
					var ce websocket.CloseError
					if !errors.As(err, &ce) || ce.Code != tc.wantCode || !strings.Contains(ce.Reason, tc.wantReason) {
						t.Errorf("closed with %v, want code %d and a reason containing %q", err, tc.wantCode, tc.wantReason)
					}
					break
				}
				got = append(got, string(data))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("received %q, want %q", got, tc.want)
			}
		})
	}
}

// TestShutdownClosesBridgedWebSockets shuts a gateway down while a chat is open: the hijacked
// connection, which http.Server.Shutdown does not track, gets the drain timeout to end, then
// a 1001 (going away) close, and Serve returns.
func TestShutdownClosesBridgedWebSockets(t *testing.T) {
	t.Parallel()
	const drain = 300 * time.Millisecond
	env := newTestEnv(t, "shutdown: {drain_timeout: 300ms}\n", nil)
	ln := listenLoopback(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- env.gw.Serve(ctx, ln, nil) }()
	c, code, err := dialChat(t, "http://"+ln.Addr().String(), "")
	if err != nil {
		t.Fatalf("dial: %v (HTTP %d)", err, code)
	}
	if err := c.Write(t.Context(), websocket.MessageText, []byte(`{"text":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	if _, echo, err := c.Read(t.Context()); err != nil || !strings.Contains(string(echo), "HELLO") {
		t.Fatalf("echo: %s, %v", echo, err)
	}
	start := time.Now()
	cancel()
	readCtx, stop := context.WithTimeout(t.Context(), 15*time.Second)
	defer stop()
	_, _, err = c.Read(readCtx)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Fatalf("read after shutdown: %v (close status %d), want %d", err, got, websocket.StatusGoingAway)
	}
	if d := time.Since(start); d < drain-50*time.Millisecond {
		t.Errorf("closed %v after shutdown began, before the %v drain timeout", d, drain)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return within 15s of shutdown")
	}
}

// TestWebSocketBadHandshake: an upgrade request the WebSocket library would refuse in plain
// text (an unsupported version) is refused with a Status.
func TestWebSocketBadHandshake(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, env.url+"/v1/orders:chat?name=orders/ord-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = http.Header{
		"X-Api-Key":             {testAPIKey},
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"8"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	wantStatus(t, resp.StatusCode, resp.Header.Get("Content-Type"), string(body), http.StatusBadRequest, 3, "version 13")
}
