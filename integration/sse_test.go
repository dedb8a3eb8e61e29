package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	"github.com/archway-gateway/archway/internal/testkit"
)

// sseStream reads a text/event-stream response event by event in the background, as
// EventSource parses it.
type sseStream struct {
	resp   *http.Response
	events chan testkit.SSEEvent
	err    error // why the stream ended, set before events is closed; nil at a clean EOF
}

// openSSE sends GET url with Accept: text/event-stream and the test API key. The request lives
// until the test ends or the server ends the response.
func openSSE(t *testing.T, url string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	s := &sseStream{resp: resp, events: make(chan testkit.SSEEvent)}
	go s.read()
	return s
}

// read delivers the stream's events to s.events until the response ends, or the request
// does when the test ends.
func (s *sseStream) read() {
	defer close(s.events)
	r := bufio.NewReader(s.resp.Body)
	for {
		ev, err := testkit.ReadSSEEvent(r)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			return
		}
		s.events <- ev
	}
}

// next returns the next event, comments included, waiting up to timeout.
func (s *sseStream) next(t *testing.T, timeout time.Duration) testkit.SSEEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("event stream ended early (err %v)", s.err)
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %v", timeout)
		return testkit.SSEEvent{}
	}
}

// nextEvent returns the next event that is not a comment.
func (s *sseStream) nextEvent(t *testing.T, timeout time.Duration) testkit.SSEEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for range 1000 {
		if ev := s.next(t, time.Until(deadline)); ev.Comment == "" {
			return ev
		}
	}
	t.Fatal("only comments")
	return testkit.SSEEvent{}
}

func (s *sseStream) expectEOF(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("event after the last one: %+v", ev)
		}
		if s.err != nil {
			t.Fatalf("stream ended with an error: %v", s.err)
		}
	case <-time.After(timeout):
		t.Fatalf("stream still open %v after its last event", timeout)
	}
}

// TestWatchOrderServerSentEvents watches an order as Server-Sent Events against the real
// storefront: every change arrives as its own numbered event while the stream is open, pings
// keep it alive while idle, and the final state is followed by the end event; a missing order
// is an error event.
func TestWatchOrderServerSentEvents(t *testing.T) {
	t.Parallel()
	sf := startStorefront(t, []string{"users", "orders", "catalog"}, nil, "")
	g := startGatewayConfig(t, gatewayConfig(sf.addrs)+"streaming: {sse_heartbeat: 100ms}\n")
	g.waitReady(t, startTimeout)

	t.Run("changes as they happen", func(t *testing.T) {
		t.Parallel()
		o := createOrder(t, g, "users/hedy-lamarr", map[string]int{"sku-mug-ceramic-350": 1})
		s := openSSE(t, g.api+"/v1/"+o.GetName()+":watch")
		if s.resp.StatusCode != http.StatusOK || s.resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("watch: HTTP %d, Content-Type %q", s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
		}
		want := []ordersv1.OrderState{
			ordersv1.OrderState_ORDER_STATE_PENDING, ordersv1.OrderState_ORDER_STATE_PAID,
			ordersv1.OrderState_ORDER_STATE_SHIPPED, ordersv1.OrderState_ORDER_STATE_DELIVERED,
		}
		for i, st := range want {
			if i > 0 {
				// Idle first: the heartbeat must show before the change is made.
				if ev := s.next(t, eventTimeout); ev.Comment != "ping" {
					t.Fatalf("idle stream: %+v, want a ping comment", ev)
				}
				mustOK(t, g.do(t, http.MethodPost, "/v1/"+o.GetName()+":advance", `{}`))
			}
			ev := s.nextEvent(t, eventTimeout)
			if ev.Event != "" || ev.ID != strconv.Itoa(i+1) {
				t.Fatalf("event %d: %+v, want a message event with id %d", i, ev, i+1)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(ev.Data), &line); err != nil {
				t.Fatalf("event %d data %q: %v", i, ev.Data, err)
			}
			got := orderEvent(t, map[string]any{"result": line})
			if got.GetOrder().GetName() != o.GetName() || got.GetOrder().GetState() != st {
				t.Fatalf("event %d: %v, want %s %v", i, got, o.GetName(), st)
			}
		}
		if ev := s.nextEvent(t, eventTimeout); ev.Event != "end" {
			t.Fatalf("after the final state: %+v, want the end event", ev)
		}
		s.expectEOF(t, eventTimeout)
	})

	t.Run("missing order", func(t *testing.T) {
		t.Parallel()
		s := openSSE(t, g.api+"/v1/orders/ord-none:watch")
		if s.resp.StatusCode != http.StatusOK {
			t.Fatalf("watch: HTTP %d, want 200 (EventSource reads no other answer)", s.resp.StatusCode)
		}
		ev := s.nextEvent(t, eventTimeout)
		var st struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &st); ev.Event != "error" || err != nil {
			t.Fatalf("event %+v (%v), want an error event with a google.rpc.Status", ev, err)
		}
		if codes.Code(st.Code) != codes.NotFound || !strings.Contains(st.Message, "ord-none") {
			t.Errorf("error event %s, want NOT_FOUND naming the order", fmt.Sprint(st))
		}
		s.expectEOF(t, eventTimeout)
	})
}
