package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

// readinessTimeout bounds how long /readyz may take to follow a backend going down or up.
const readinessTimeout = 15 * time.Second

// TestReadiness runs each service in its own storefront process, stops orders and starts it
// again on the same address: /readyz and the orders routes must follow, and the other routes
// must keep working.
func TestReadiness(t *testing.T) {
	t.Parallel()
	catalog := startStorefront(t, []string{"catalog"}, nil, "")
	users := startStorefront(t, []string{"users"}, nil, "")
	orders := startStorefront(t, []string{"orders"}, nil, catalog.addrs["catalog"])
	addrs := map[string]string{
		"users":   users.addrs["users"],
		"orders":  orders.addrs["orders"],
		"catalog": catalog.addrs["catalog"],
	}
	g := startGateway(t, addrs)
	g.waitReady(t, startTimeout)

	// Orders reaches the catalog process through -catalog-target.
	o := createOrder(t, g, "users/konrad-zuse", map[string]int{"sku-grinder-hand": 1})
	watch := openStream(t, g.api+"/v1/"+o.GetName()+":watch")
	orderEvent(t, watch.next(t, eventTimeout))

	if code := orders.stop(t); code != 0 {
		t.Errorf("orders storefront exited with %d after SIGTERM, want 0", code)
	}

	t.Run("open stream ends with an error line", func(t *testing.T) {
		line := watch.next(t, eventTimeout)
		e, ok := line["error"]
		if !ok {
			t.Fatalf("line %v: want {\"error\": <Status>} when the backend goes away", line)
		}
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		st := new(spb.Status)
		if err := protojson.Unmarshal(data, st); err != nil {
			t.Fatalf("error line %s: not a google.rpc.Status: %v", data, err)
		}
		if st.GetCode() != 14 || st.GetMessage() == "" || strings.Contains(st.GetMessage(), "shutting down") {
			t.Errorf("error line %s: want UNAVAILABLE with the gateway's generic message, not the backend's", data)
		}
		watch.expectEnd(t, eventTimeout)
	})

	t.Run("not ready without orders", func(t *testing.T) {
		var resp *response
		if !poll(readinessTimeout, func() bool {
			resp = g.do(t, http.MethodGet, "/readyz", "")
			return resp.code != http.StatusOK
		}) {
			t.Fatalf("/readyz still 200 %v after orders stopped", readinessTimeout)
		}
		expectStatus(t, resp, http.StatusServiceUnavailable, 14)

		admin, err := send(http.MethodGet, g.admin+"/readyz", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		expectOK(t, admin, http.StatusServiceUnavailable)
		if !strings.Contains(string(admin.body), `"orders"`) {
			t.Errorf("%s: no detail for backend orders", admin)
		}
	})

	t.Run("orders routes unavailable", func(t *testing.T) {
		for _, path := range []string{"/v1/orders/ord-1001", "/v1/users/ada-lovelace/orders", "/v1/orders"} {
			resp := g.do(t, http.MethodGet, path, "")
			st := expectStatus(t, resp, http.StatusServiceUnavailable, 14)
			msg := strings.ToLower(st.GetMessage())
			_, port, _ := net.SplitHostPort(addrs["orders"])
			for _, leak := range []string{port, "127.0.0.1", "connection refused", "dial", "transport", "connect"} {
				if strings.Contains(msg, leak) {
					t.Errorf("%s: message leaks backend text %q", resp, leak)
				}
			}
		}
	})

	t.Run("other routes still work", func(t *testing.T) {
		mustOK(t, g.do(t, http.MethodGet, "/v1/users/ada-lovelace", ""))
		mustOK(t, g.do(t, http.MethodGet, "/v1/products?page_size=3", ""))
	})

	restarted := startStorefront(t, []string{"orders"}, map[string]string{"orders": addrs["orders"]}, catalog.addrs["catalog"])
	if restarted.addrs["orders"] != addrs["orders"] {
		t.Fatalf("orders restarted on %s, want %s", restarted.addrs["orders"], addrs["orders"])
	}

	t.Run("ready again", func(t *testing.T) {
		g.waitReady(t, readinessTimeout)
		mustOK(t, g.do(t, http.MethodGet, "/v1/orders/ord-1001", ""))
	})
}

// TestGracefulShutdown sends SIGTERM to the gateway while a watch stream is open: new
// connections must be refused at once, the stream must go on until its order reaches a final
// state, and the gateway must then exit 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	g := s.gw
	o := createOrder(t, g, "users/marie-curie", map[string]int{"sku-espresso-250": 1})
	stream := openStream(t, g.api+"/v1/"+o.GetName()+":watch")
	if ev := orderEvent(t, stream.next(t, eventTimeout)); ev.GetOrder().GetState() != ordersv1.OrderState_ORDER_STATE_PENDING {
		t.Fatalf("first event %v: want PENDING", ev)
	}

	g.terminate(t)

	for _, base := range []string{g.api, g.admin} {
		addr := strings.TrimPrefix(base, "http://")
		var lastErr error
		if !poll(5*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = c.Close()
			}
			lastErr = err
			return errors.Is(err, syscall.ECONNREFUSED)
		}) {
			t.Errorf("%s still accepts connections after SIGTERM (last dial: %v)", addr, lastErr)
		}
	}

	// The gateway cannot be reached any more, so change the order at the backend directly.
	orders := ordersv1.NewOrderServiceClient(dialBackend(t, s.sf.addrs["orders"]))
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()

	if _, err := orders.AdvanceOrder(ctx, &ordersv1.AdvanceOrderRequest{Name: o.GetName()}); err != nil {
		t.Fatalf("AdvanceOrder at the backend: %v", err)
	}
	if ev := orderEvent(t, stream.next(t, eventTimeout)); ev.GetOrder().GetState() != ordersv1.OrderState_ORDER_STATE_PAID {
		t.Fatalf("event while draining %v: want PAID", ev)
	}
	if _, err := orders.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Name: o.GetName(), Reason: "shutdown test"}); err != nil {
		t.Fatalf("CancelOrder at the backend: %v", err)
	}
	if ev := orderEvent(t, stream.next(t, eventTimeout)); ev.GetOrder().GetState() != ordersv1.OrderState_ORDER_STATE_CANCELLED {
		t.Fatalf("event while draining %v: want CANCELLED", ev)
	}
	stream.expectEnd(t, eventTimeout)

	code, exited := g.wait(stopTimeout)
	if !exited {
		t.Fatalf("gateway still running %v after its last stream ended", stopTimeout)
	}
	if code != 0 {
		t.Errorf("gateway exited with %d, want 0", code)
	}
}

// TestDemo runs the gateway binary in demo mode, with its backends in-process.
func TestDemo(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"no arguments", nil},
		{"demo command", []string{"demo"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := startProc(t, "archway "+strings.Join(c.args, " "), binaries(t).archway, c.args, []string{
				"ARCHWAY_LISTEN_ADDRESS=127.0.0.1:0",
				"ARCHWAY_ADMIN_ADDRESS=127.0.0.1:0",
				"ARCHWAY_LOG_FORMAT=json",
			})
			g := &gateway{
				proc:  p,
				api:   "http://" + p.listenAddr(t, "listener", "api"),
				admin: "http://" + p.listenAddr(t, "listener", "admin"),
			}
			for _, svc := range []string{"users", "orders", "catalog"} {
				p.listenAddr(t, "service", svc)
			}
			g.waitReady(t, startTimeout)
			if m := expectOK(t, g.do(t, http.MethodGet, "/readyz", ""), http.StatusOK); m["status"] != "ready" {
				t.Errorf("/readyz: %v, want status ready", m)
			}
			// The demo's own API key, as in the README; public routes need none.
			demoKey := http.Header{"X-Api-Key": {"archway-demo-key"}}
			noKey := http.Header{"X-Api-Key": nil}
			m := expectOK(t, g.request(t, http.MethodGet, "/v1/products", nil, noKey), http.StatusOK)
			if ps, _ := m["products"].([]any); len(ps) == 0 {
				t.Errorf("/v1/products lists no products: %v", m)
			}
			mustOK(t, g.request(t, http.MethodGet, "/v1/users/ada-lovelace", nil, demoKey))
			expectStatus(t, g.request(t, http.MethodGet, "/v1/users/ada-lovelace", nil, noKey), http.StatusUnauthorized, 16)
			if code := p.stop(t); code != 0 {
				t.Errorf("demo exited with %d after SIGTERM, want 0", code)
			}
		})
	}
}
