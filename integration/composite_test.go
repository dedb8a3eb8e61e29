package integration

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
)

// partialHeader is the header that marks a partial composite response.
const partialHeader = "Archway-Partial"

// startFaultyStack starts a storefront serving every service with the -test-faults spec, and a
// gateway in front of it with the given composite budget, and waits until the gateway is ready.
func startFaultyStack(t *testing.T, faults string, budget time.Duration) *stack {
	t.Helper()
	sf := startStorefrontArgs(t, []string{"users", "orders", "catalog"}, nil, "", "-test-faults", faults)
	gw := startGatewayConfig(t, gatewayConfig(sf.addrs)+"composite: {mode: always, timeout: "+budget.String()+"}\n")
	gw.waitReady(t, startTimeout)
	return &stack{sf: sf, gw: gw}
}

// TestComposite runs the composite endpoints over the real binaries, with faults injected into
// the storefront.
func TestComposite(t *testing.T) {
	t.Parallel()
	t.Run("Latency", func(t *testing.T) { t.Parallel(); testCompositeLatency(t) })
	t.Run("OptionalHangs", func(t *testing.T) { t.Parallel(); testCompositeOptionalHangs(t) })
	t.Run("RequiredFails", func(t *testing.T) { t.Parallel(); testCompositeRequiredFails(t) })
	t.Run("ClientCancels", func(t *testing.T) { t.Parallel(); testCompositeClientCancels(t) })
}

// testCompositeLatency delays users by 200ms, orders by 40ms and catalog by 80ms. The overview
// reads users and orders concurrently and catalog once orders are in, so it takes about 200ms;
// one call after another would take at least 320ms. The margins are wide because the test
// shares two cores with the rest of the suite: a run under load once took 88ms with the
// quarter-size delays, whose margin was 25ms.
func testCompositeLatency(t *testing.T) {
	s := startFaultyStack(t, "users=delay:200ms;orders=delay:40ms;catalog=delay:80ms", 2*time.Second)
	const path = "/v1/users/ada-lovelace:overview"
	first := s.gw.do(t, http.MethodGet, path, "") // connects to the backends
	var overview edgev1.UserOverview
	decodeProto(t, mustOK(t, first), &overview)
	if overview.GetUser().GetName() != "users/ada-lovelace" || len(overview.GetRecentOrders()) == 0 ||
		len(overview.GetProducts()) == 0 || len(overview.GetStockLevels()) != len(overview.GetProducts()) {
		t.Fatalf("%s: want the user, orders, products and their stock", first)
	}
	if len(overview.GetDegradedParts()) != 0 || first.header.Get(partialHeader) != "" {
		t.Fatalf("%s: complete response marked partial", first)
	}

	const runs = 7
	fastest := time.Hour
	for range runs {
		begin := time.Now()
		mustOK(t, s.gw.do(t, http.MethodGet, path, ""))
		fastest = min(fastest, time.Since(begin))
	}
	t.Logf("user overview with backends delayed 200/40/80ms: fastest of %d runs %v", runs, fastest)
	if fastest < 200*time.Millisecond {
		t.Errorf("fastest overview took %v, less than the slowest backend's 200ms: the faults are not applied", fastest)
	}
	if fastest >= 280*time.Millisecond {
		t.Errorf("fastest overview took %v, want under 280ms: the sub-calls are not concurrent (in sequence they take 320ms)", fastest)
	}
}

// testCompositeOptionalHangs holds every orders call: the product page answers when the 300ms
// budget is spent, with the order count marked degraded.
func testCompositeOptionalHangs(t *testing.T) {
	const budget = 300 * time.Millisecond
	s := startFaultyStack(t, "orders=hang", budget)
	begin := time.Now()
	resp := s.gw.do(t, http.MethodGet, "/v1/products/sku-aeropress:page", "")
	elapsed := time.Since(begin)
	var page edgev1.ProductPage
	decodeProto(t, mustOK(t, resp), &page)
	if elapsed < budget || elapsed > budget+time.Second {
		t.Errorf("%s: answered after %v, want just after the %v budget", resp, elapsed, budget)
	}
	if page.GetProduct().GetId() != "sku-aeropress" || page.GetStockLevel().GetProductId() != "sku-aeropress" {
		t.Errorf("%s: want the product and its stock", resp)
	}
	if !slices.Equal(page.GetDegradedParts(), []string{"order_count"}) || resp.header.Get(partialHeader) != "order_count" {
		t.Errorf("%s: degradedParts %v, %s %q; want order_count in both", resp, page.GetDegradedParts(),
			partialHeader, resp.header.Get(partialHeader))
	}
}

// testCompositeRequiredFails fails every users and catalog call: the required part's status
// decides the answer, rendered like any backend error.
func testCompositeRequiredFails(t *testing.T) {
	s := startFaultyStack(t, "users=fail:not_found;catalog=fail:unavailable", 2*time.Second)

	resp := s.gw.do(t, http.MethodGet, "/v1/users/ada-lovelace:overview", "")
	st := expectStatus(t, resp, http.StatusNotFound, 5)
	if st.GetMessage() != "injected fault" {
		t.Errorf("%s: want NOT_FOUND with the backend's message", resp)
	}

	resp = s.gw.do(t, http.MethodGet, "/v1/products/sku-aeropress:page", "")
	st = expectStatus(t, resp, http.StatusServiceUnavailable, 14)
	if !strings.Contains(st.GetMessage(), resp.header.Get("X-Request-Id")) ||
		strings.Contains(st.GetMessage(), "injected") {
		t.Errorf("%s: want UNAVAILABLE with the generic message naming the request id", resp)
	}
}

// testCompositeClientCancels holds users and orders, with a budget far away, and cancels the
// client's request: the backends must see both calls cancelled.
func testCompositeClientCancels(t *testing.T) {
	s := startFaultyStack(t, "users=hang;orders=hang", time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.gw.api+"/v1/users/ada-lovelace:overview", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testAPIKey)
	resp, err := client.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("the request answered %d, want it cancelled by the client", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request error %v, want the client's deadline", err)
	}
	for _, method := range []string{"storefront.users.v1.UserService/GetUser", "storefront.orders.v1.OrderService/ListOrders"} {
		s.sf.waitRecord(t, 5*time.Second, method+" cancelled", func(r record) bool {
			return r.str("msg") == "injected fault" && r.str("grpc.method") == method && r.str("outcome") == "context canceled"
		})
	}
}
