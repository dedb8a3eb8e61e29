package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/internal/testkit"
)

// openSSE sends a GET with Accept: text/event-stream and the test API key (unless key is
// empty) and returns the response, its body still open for reading.
func openSSE(t *testing.T, url, key string) (reply, *bufio.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html;q=0.5, text/event-stream")
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return reply{StatusCode: resp.StatusCode, Header: resp.Header}, bufio.NewReader(resp.Body)
}

// readAllEvents reads events until the body ends.
func readAllEvents(t *testing.T, r *bufio.Reader) []testkit.SSEEvent {
	t.Helper()
	var evs []testkit.SSEEvent
	for range 100 {
		ev, err := testkit.ReadSSEEvent(r)
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatalf("reading events: %v (so far %v)", err, evs)
		}
		evs = append(evs, ev)
	}
	t.Fatalf("more than 100 events: %v", evs)
	return nil
}

func orderState(t *testing.T, data string) string {
	t.Helper()
	var ev struct {
		Order struct {
			State string `json:"state"`
		} `json:"order"`
	}
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	return ev.Order.State
}

func eventStatus(t *testing.T, ev testkit.SSEEvent) statusBody {
	t.Helper()
	if ev.Event != "error" {
		t.Fatalf("event %+v, want an error event", ev)
	}
	var st statusBody
	if err := json.Unmarshal([]byte(ev.Data), &st); err != nil {
		t.Fatalf("error event data %q is not a google.rpc.Status: %v", ev.Data, err)
	}
	return st
}

func TestServerStreamAsServerSentEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		orders *fakeOrders
		// want is the events' types and, for messages, the order states.
		want     []string
		wantCode codes.Code
	}{
		{
			name:   "every message, then end",
			orders: &fakeOrders{},
			want:   []string{"ORDER_STATE_PENDING", "ORDER_STATE_PAID", "ORDER_STATE_SHIPPED", "event:end"},
		},
		{
			name:     "failure mid-stream is a hidden error event",
			orders:   &fakeOrders{failMidStream: true},
			want:     []string{"ORDER_STATE_PENDING", "event:error"},
			wantCode: codes.Internal,
		},
		{
			name:     "failure at once is an error event",
			orders:   &fakeOrders{failAtOnce: status.Error(codes.NotFound, `order "orders/x" not found`)},
			want:     []string{"event:error"},
			wantCode: codes.NotFound,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, "", tc.orders)
			resp, r := openSSE(t, env.url+"/v1/orders/ord-1:watch", testAPIKey)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q", ct)
			}
			// The stream's caller authenticated: nothing may keep it.
			if cc := resp.Header.Get("Cache-Control"); cc != "private, no-store" {
				t.Errorf("Cache-Control = %q, want private, no-store", cc)
			}
			evs := readAllEvents(t, r)
			var got []string
			for i, ev := range evs {
				if ev.Event != "" {
					got = append(got, "event:"+ev.Event)
					continue
				}
				if want := string(rune('1' + i)); ev.ID != want {
					t.Errorf("event %d: id %q, want %q", i, ev.ID, want)
				}
				got = append(got, orderState(t, ev.Data))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("events %v, want %v", got, tc.want)
			}
			if tc.wantCode != codes.OK {
				st := eventStatus(t, evs[len(evs)-1])
				if codes.Code(st.Code) != tc.wantCode || st.Message == "" || strings.Contains(st.Message, "/var/lib") {
					t.Errorf("error event %+v, want code %v with a message fit for clients", st, tc.wantCode)
				}
			}
		})
	}
}

func TestServerSentEventsHeartbeat(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	env := newTestEnv(t, "streaming: {sse_heartbeat: 20ms}\n", &fakeOrders{hold: hold})
	_, r := openSSE(t, env.url+"/v1/orders/ord-1:watch", testAPIKey)
	// Pings may come first, while the backend connection is made.
	var first testkit.SSEEvent
	var err error
	for range 100 {
		if first, err = testkit.ReadSSEEvent(r); err != nil || first.Comment == "" {
			break
		}
	}
	if err != nil || orderState(t, first.Data) != "ORDER_STATE_PENDING" {
		t.Fatalf("first event %+v, %v", first, err)
	}
	// The stream is idle now: pings must come, several of them, while it stays open.
	for i := range 3 {
		ev, err := testkit.ReadSSEEvent(r)
		if err != nil || ev.Comment != "ping" {
			t.Fatalf("idle event %d: %+v, %v; want a ping comment", i, ev, err)
		}
	}
	close(hold)
	var rest []string
	for _, ev := range readAllEvents(t, r) {
		if ev.Comment == "" {
			rest = append(rest, ev.Event+ev.ID)
		}
	}
	if got := strings.Join(rest, ","); got != "2,3,end" {
		t.Errorf("after the pause: %s, want ids 2 and 3 and the end event", got)
	}
}

func TestServerSentEventsRefusedBeforeStream(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	resp, r := openSSE(t, env.url+"/v1/orders/ord-1:watch", "")
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without credentials: status %d, want 401: %s", resp.StatusCode, body)
	}
	st := decodeStatus(t, resp, body)
	if codes.Code(st.Code) != codes.Unauthenticated {
		t.Errorf("code %d, want UNAUTHENTICATED", st.Code)
	}
}

func TestUnaryAnswersJSONToEventStreamAccept(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", map[string]string{"Accept": "text/event-stream"})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var u struct {
		DisplayName string `json:"displayName"`
	}
	if err := json.Unmarshal(body, &u); err != nil || u.DisplayName != "Ada Lovelace" {
		t.Errorf("body %s: %v", body, err)
	}
}

// TestServerSentEventsClientGoneCancelsBackend checks that a client that goes away mid-stream
// cancels the backend stream: the held fake returns once its context ends.
func TestServerSentEventsClientGoneCancelsBackend(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	orders := &fakeOrders{hold: hold, done: make(chan error, 1)}
	env := newTestEnv(t, "", orders)
	ctx, hangUp := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.url+"/v1/orders/ord-1:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Api-Key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := testkit.ReadSSEEvent(bufio.NewReader(resp.Body)); err != nil {
		t.Fatal(err)
	}
	hangUp()
	select {
	case err := <-orders.done:
		if status.Code(err) != codes.Canceled {
			t.Errorf("backend stream ended with %v, want CANCELLED", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the backend stream was not cancelled after the client went away")
	}
}
