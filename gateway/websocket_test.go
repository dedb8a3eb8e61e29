package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func dialWS(t *testing.T, env *testEnv, origin string) (*websocket.Conn, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	h := http.Header{"X-Api-Key": {testAPIKey}}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.url, "http")+"/v1/orders:chat?name=orders/ord-1", &websocket.DialOptions{HTTPHeader: h})
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
