package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

// eventTimeout bounds the wait for one WatchOrder event after the change that causes it.
const eventTimeout = 5 * time.Second

// TestWatchOrder watches orders over GET /v1/{name=orders/*}:watch while changing them: every
// change must arrive as its own NDJSON line while the stream is open, and the stream must end
// after the final state.
func TestWatchOrder(t *testing.T) {
	t.Parallel()
	g := startStack(t).gw
	const (
		pending   = ordersv1.OrderState_ORDER_STATE_PENDING
		paid      = ordersv1.OrderState_ORDER_STATE_PAID
		shipped   = ordersv1.OrderState_ORDER_STATE_SHIPPED
		delivered = ordersv1.OrderState_ORDER_STATE_DELIVERED
		cancelled = ordersv1.OrderState_ORDER_STATE_CANCELLED
	)
	type step struct {
		verb, body string
		want       ordersv1.OrderState
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"advance to delivered", []step{
			{":advance", `{}`, paid},
			{":advance", `{}`, shipped},
			{":advance", `{}`, delivered},
		}},
		{"cancel after payment", []step{
			{":advance", `{}`, paid},
			{":cancel", `{"reason":"found it cheaper"}`, cancelled},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := createOrder(t, g, "users/hedy-lamarr", map[string]int{"sku-mug-ceramic-350": 2})
			s := openStream(t, g.api+"/v1/"+o.GetName()+":watch")
			if s.resp.StatusCode != http.StatusOK {
				t.Fatalf("watch: HTTP %d, want 200", s.resp.StatusCode)
			}
			if ct := s.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
				t.Errorf("watch: Content-Type %q, want application/x-ndjson", ct)
			}
			if s.resp.Header.Get("X-Request-Id") == "" {
				t.Error("watch: no X-Request-Id header")
			}

			ev := orderEvent(t, s.next(t, eventTimeout))
			if ev.GetOrder().GetName() != o.GetName() || ev.GetOrder().GetState() != pending {
				t.Fatalf("first event %v: want %s in state PENDING", ev, o.GetName())
			}
			last := ev.GetEventTime().AsTime()
			for _, st := range c.steps {
				resp := g.do(t, http.MethodPost, "/v1/"+o.GetName()+st.verb, st.body)
				mustOK(t, resp)
				// The event must arrive while the stream stays open, before the next change.
				ev := orderEvent(t, s.next(t, eventTimeout))
				if ev.GetOrder().GetName() != o.GetName() || ev.GetOrder().GetState() != st.want {
					t.Fatalf("after %s: event %v, want state %v", st.verb, ev, st.want)
				}
				if ev.GetEventTime() == nil || ev.GetEventTime().AsTime().Before(last) {
					t.Errorf("after %s: event time %v before the previous event's %v", st.verb, ev.GetEventTime(), last)
				}
				last = ev.GetEventTime().AsTime()
			}
			s.expectEnd(t, eventTimeout)
		})
	}

	t.Run("final order", func(t *testing.T) {
		t.Parallel()
		s := openStream(t, g.api+"/v1/orders/ord-1001:watch")
		ev := orderEvent(t, s.next(t, eventTimeout))
		if ev.GetOrder().GetName() != "orders/ord-1001" || ev.GetOrder().GetState() != delivered {
			t.Fatalf("event %v: want orders/ord-1001 DELIVERED", ev)
		}
		s.expectEnd(t, eventTimeout)
	})
}
