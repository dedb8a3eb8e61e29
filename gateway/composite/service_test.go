package composite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/composite"
	"github.com/archway-gateway/archway/gateway/config"
	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// calls records what the fake backends received, and lets a test make a method fail or hold.
type calls struct {
	mu sync.Mutex
	// md holds the incoming metadata of every call, by method name.
	md map[string][]metadata.MD
	// ended holds, for every held call, the error its context ended with.
	ended map[string][]error
	// batchIDs holds the ids of every BatchGetProducts call.
	batchIDs [][]string
	// fail makes a method fail with the error; hold makes it wait for its context to end.
	fail map[string]error
	hold map[string]bool
}

// enter records a call of method and plays the failure or hold the test set for it.
func (c *calls) enter(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	c.mu.Lock()
	c.md[method] = append(c.md[method], md)
	err, hold := c.fail[method], c.hold[method]
	c.mu.Unlock()
	if hold {
		<-ctx.Done()
		c.mu.Lock()
		c.ended[method] = append(c.ended[method], ctx.Err())
		c.mu.Unlock()
		return status.FromContextError(ctx.Err()).Err()
	}
	return err
}

func (c *calls) metadata(method string) []metadata.MD {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.md[method])
}

func (c *calls) endedWith(method string) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ended[method])
}

type fakeUsers struct {
	usersv1.UnimplementedUserServiceServer
	*calls
}

func (f fakeUsers) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.User, error) {
	if err := f.enter(ctx, "GetUser"); err != nil {
		return nil, err
	}
	return &usersv1.User{Name: req.GetName(), DisplayName: "Ada Lovelace"}, nil
}

type fakeOrders struct {
	ordersv1.UnimplementedOrderServiceServer
	*calls
}

func (f fakeOrders) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	if err := f.enter(ctx, "ListOrders"); err != nil {
		return nil, err
	}
	item := func(id string) *ordersv1.LineItem { return &ordersv1.LineItem{ProductId: id, Quantity: 1} }
	return &ordersv1.ListOrdersResponse{TotalSize: 12, Orders: []*ordersv1.Order{
		{Name: "orders/o2", User: req.GetParent(), Items: []*ordersv1.LineItem{item("sku-b"), item("sku-a")}},
		{Name: "orders/o1", User: req.GetParent(), Items: []*ordersv1.LineItem{item("sku-a"), item("sku-c"), item("sku-b")}},
	}}, nil
}

func (f fakeOrders) CountOrders(ctx context.Context, _ *ordersv1.CountOrdersRequest) (*ordersv1.CountOrdersResponse, error) {
	if err := f.enter(ctx, "CountOrders"); err != nil {
		return nil, err
	}
	return &ordersv1.CountOrdersResponse{TotalSize: 7}, nil
}

type fakeCatalog struct {
	catalogv1.UnimplementedCatalogServiceServer
	*calls
}

func (f fakeCatalog) BatchGetProducts(ctx context.Context, req *catalogv1.BatchGetProductsRequest) (*catalogv1.BatchGetProductsResponse, error) {
	f.mu.Lock()
	f.batchIDs = append(f.batchIDs, req.GetIds())
	f.mu.Unlock()
	if err := f.enter(ctx, "BatchGetProducts"); err != nil {
		return nil, err
	}
	resp := &catalogv1.BatchGetProductsResponse{}
	for _, id := range req.GetIds() {
		resp.Products = append(resp.Products, &catalogv1.Product{Id: id})
		if req.GetIncludeStock() {
			resp.StockLevels = append(resp.StockLevels, &catalogv1.StockLevel{ProductId: id, Available: 3})
		}
	}
	return resp, nil
}

func (f fakeCatalog) GetProduct(ctx context.Context, req *catalogv1.GetProductRequest) (*catalogv1.Product, error) {
	if err := f.enter(ctx, "GetProduct"); err != nil {
		return nil, err
	}
	return &catalogv1.Product{Id: req.GetId(), Title: "AeroPress"}, nil
}

func (f fakeCatalog) GetStock(ctx context.Context, req *catalogv1.GetStockRequest) (*catalogv1.GetStockResponse, error) {
	if err := f.enter(ctx, "GetStock"); err != nil {
		return nil, err
	}
	return &catalogv1.GetStockResponse{StockLevel: &catalogv1.StockLevel{ProductId: req.GetProductId(), Available: 9}}, nil
}

// env is a gateway in front of fake users, orders and catalog backends on loopback gRPC.
type env struct {
	url   string
	calls *calls
}

// newEnv starts the fakes, each on its own loopback listener, and a gateway with extra YAML
// appended to its configuration. fail and hold set up the fakes' misbehaviour by method.
func newEnv(t *testing.T, extra string, fail map[string]error, hold ...string) *env {
	t.Helper()
	c := &calls{md: map[string][]metadata.MD{}, ended: map[string][]error{}, fail: fail, hold: map[string]bool{}}
	for _, m := range hold {
		c.hold[m] = true
	}
	addrs := map[string]string{}
	for name, register := range map[string]func(*grpc.Server){
		"users":   func(s *grpc.Server) { usersv1.RegisterUserServiceServer(s, fakeUsers{calls: c}) },
		"orders":  func(s *grpc.Server) { ordersv1.RegisterOrderServiceServer(s, fakeOrders{calls: c}) },
		"catalog": func(s *grpc.Server) { catalogv1.RegisterCatalogServiceServer(s, fakeCatalog{calls: c}) },
	} {
		var lc net.ListenConfig
		l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		register(srv)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(l)
		}()
		t.Cleanup(func() {
			srv.Stop()
			<-done
		})
		addrs[name] = l.Addr().String()
	}
	yaml := fmt.Sprintf(`
admin: {enabled: false}
log: {access_log: false}
api: {forward_headers: [X-Tenant]}
# Authentication is not what these tests are about: the overview is made public.
policy: {routes: {archway.edge.v1.CompositeService/GetUserOverview: {access: public}}}
backends:
  - {name: users, address: %q, services: [storefront.users.v1.UserService]}
  - {name: orders, address: %q, services: [storefront.orders.v1.OrderService]}
  - {name: catalog, address: %q, services: [storefront.catalog.v1.CatalogService]}
`, addrs["users"], addrs["orders"], addrs["catalog"]) + extra
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(t.Context(), cfg, gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(hs.Close)
	return &env{url: hs.URL, calls: c}
}

// reply is a complete response.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (e *env) get(t *testing.T, path string, header http.Header) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{code: resp.StatusCode, header: resp.Header, body: body}
}

// decode fails the test unless r is a 200, and decodes its body into m.
func decode(t *testing.T, r reply, m proto.Message) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("HTTP %d %s, want 200", r.code, r.body)
	}
	if err := protojson.Unmarshal(r.body, m); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
}

// statusOf decodes a google.rpc.Status body.
func statusOf(t *testing.T, r reply) (code int, message string, details []json.RawMessage) {
	t.Helper()
	var s struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Details []json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("%s: not a Status: %v", r.body, err)
	}
	return s.Code, s.Message, s.Details
}

func TestUserOverview(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil)
	r := e.get(t, "/v1/users/ada-lovelace:overview?order_limit=2", http.Header{"X-Tenant": {"acme"}})
	var got edgev1.UserOverview
	decode(t, r, &got)
	if got.GetUser().GetDisplayName() != "Ada Lovelace" || len(got.GetRecentOrders()) != 2 || got.GetTotalOrders() != 12 {
		t.Errorf("overview = %v", &got)
	}
	if len(got.GetDegradedParts()) != 0 || r.header.Get(composite.PartialHeader) != "" {
		t.Errorf("complete response marked partial: %v, header %q", got.GetDegradedParts(), r.header.Get(composite.PartialHeader))
	}
	// One batched catalog call, ids de-duplicated in order of first mention.
	e.calls.mu.Lock()
	batches := slices.Clone(e.calls.batchIDs)
	e.calls.mu.Unlock()
	if len(batches) != 1 || !slices.Equal(batches[0], []string{"sku-b", "sku-a", "sku-c"}) {
		t.Errorf("BatchGetProducts calls = %v, want one with [sku-b sku-a sku-c]", batches)
	}
	if len(got.GetProducts()) != 3 || len(got.GetStockLevels()) != 3 {
		t.Errorf("products %v, stock %v", got.GetProducts(), got.GetStockLevels())
	}
	// Every sub-call carries the request id of the response and the allowlisted header.
	id := r.header.Get("X-Request-Id")
	for _, method := range []string{"GetUser", "ListOrders", "BatchGetProducts"} {
		mds := e.calls.metadata(method)
		if len(mds) != 1 {
			t.Fatalf("%s called %d times, want once", method, len(mds))
		}
		if got := mds[0].Get("x-request-id"); id == "" || !slices.Equal(got, []string{id}) {
			t.Errorf("%s: x-request-id %v, want [%s]", method, got, id)
		}
		if got := mds[0].Get("x-tenant"); !slices.Equal(got, []string{"acme"}) {
			t.Errorf("%s: x-tenant %v, want [acme]", method, got)
		}
	}
}

func TestProductPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil)
	var got edgev1.ProductPage
	decode(t, e.get(t, "/v1/products/sku-aeropress:page", nil), &got)
	if got.GetProduct().GetTitle() != "AeroPress" || got.GetStockLevel().GetAvailable() != 9 || got.GetOrderCount() != 7 {
		t.Errorf("page = %v", &got)
	}
}

func TestOptionalPartFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", map[string]error{"ListOrders": status.Error(codes.Unavailable, "orders db down")})
	r := e.get(t, "/v1/users/ada-lovelace:overview", nil)
	var got edgev1.UserOverview
	decode(t, r, &got)
	if !slices.Equal(got.GetDegradedParts(), []string{"orders", "products"}) {
		t.Errorf("degradedParts = %v, want [orders products]", got.GetDegradedParts())
	}
	if h := r.header.Get(composite.PartialHeader); h != "orders, products" {
		t.Errorf("%s = %q, want %q", composite.PartialHeader, h, "orders, products")
	}
	if got.GetUser().GetName() != "users/ada-lovelace" || len(got.GetRecentOrders()) != 0 {
		t.Errorf("overview = %v, want the user and no orders", &got)
	}
	if n := len(e.calls.metadata("BatchGetProducts")); n != 0 {
		t.Errorf("catalog called %d times without orders", n)
	}
}

func TestOptionalPartOutOfTime(t *testing.T) {
	t.Parallel()
	// The budget leaves the required parts time to answer on a busy machine.
	e := newEnv(t, "composite: {timeout: 400ms}\n", nil, "CountOrders")
	begin := time.Now()
	r := e.get(t, "/v1/products/sku-aeropress:page", nil)
	elapsed := time.Since(begin)
	var got edgev1.ProductPage
	decode(t, r, &got)
	if elapsed < 400*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("answered after %v, want just after the 400ms budget", elapsed)
	}
	if !slices.Equal(got.GetDegradedParts(), []string{"order_count"}) || r.header.Get(composite.PartialHeader) != "order_count" {
		t.Errorf("degraded %v, header %q; want order_count", got.GetDegradedParts(), r.header.Get(composite.PartialHeader))
	}
	// The backend sees its deadline pass or the gateway's cancellation, whichever comes first.
	waitFor(t, func() bool { return len(e.calls.endedWith("CountOrders")) == 1 })
}

func TestRequiredPartFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		httpCode int
		message  string
	}{
		{"not found keeps its message", status.Error(codes.NotFound, "user users/nobody not found"), http.StatusNotFound, "user users/nobody not found"},
		{"internal is hidden", status.Error(codes.Internal, "pq: password=hunter2"), http.StatusInternalServerError, "internal error (request id "},
		{"unavailable is hidden", status.Error(codes.Unavailable, "dial tcp 10.0.0.7:9101"), http.StatusServiceUnavailable, "(request id "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "", map[string]error{"GetUser": tc.err}, "ListOrders")
			r := e.get(t, "/v1/users/ada-lovelace:overview", nil)
			if r.code != tc.httpCode {
				t.Fatalf("HTTP %d %s, want %d", r.code, r.body, tc.httpCode)
			}
			code, msg, _ := statusOf(t, r)
			if code != int(status.Code(tc.err)) || !strings.Contains(msg, tc.message) {
				t.Errorf("Status {%d %q}, want code %d with %q", code, msg, status.Code(tc.err), tc.message)
			}
			if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "10.0.0.7") {
				t.Errorf("backend detail leaked: %s", r.body)
			}
			// The held orders call, if it reached the backend before the user failed, was
			// cancelled then: the response came long before the 2s budget.
			waitFor(t, func() bool { return len(e.calls.endedWith("ListOrders")) == len(e.calls.metadata("ListOrders")) })
			for _, err := range e.calls.endedWith("ListOrders") {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("the held ListOrders ended with %v, want context.Canceled", err)
				}
			}
		})
	}
}

func TestInvalidRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil)
	for _, path := range []string{"/v1/users/Ada:overview", "/v1/users/ada-lovelace:overview?order_limit=99"} {
		r := e.get(t, path, nil)
		code, msg, details := statusOf(t, r)
		if r.code != http.StatusBadRequest || code != int(codes.InvalidArgument) || len(details) != 1 ||
			!strings.Contains(string(details[0]), "google.rpc.BadRequest") {
			t.Errorf("GET %s: HTTP %d %s, want 400 with a BadRequest detail (%s)", path, r.code, r.body, msg)
		}
	}
	if n := len(e.calls.metadata("GetUser")); n != 0 {
		t.Errorf("invalid requests reached the backends %d times", n)
	}
}

// TestClientGoesAway checks that the sub-calls of a request whose client disconnects are
// cancelled at the backends; TestMain's goleak check then proves nothing was left running.
func TestClientGoesAway(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "composite: {timeout: 1m}\n", nil, "GetUser", "ListOrders")
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/v1/users/ada-lovelace:overview", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, func() bool {
		return len(e.calls.metadata("GetUser")) == 1 && len(e.calls.metadata("ListOrders")) == 1
	})
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the request succeeded, want it cancelled")
	}
	waitFor(t, func() bool {
		return len(e.calls.endedWith("GetUser")) == 1 && len(e.calls.endedWith("ListOrders")) == 1
	})
	for _, m := range []string{"GetUser", "ListOrders"} {
		if got := e.calls.endedWith(m); !errors.Is(got[0], context.Canceled) {
			t.Errorf("%s ended with %v, want context.Canceled", m, got[0])
		}
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServedOnlyWithItsBackends(t *testing.T) {
	t.Parallel()
	onlyUsers := `
admin: {enabled: false}
backends:
  - {name: users, address: "127.0.0.1:1", services: [storefront.users.v1.UserService]}
`
	for _, tc := range []struct {
		mode    string
		wantErr string
	}{
		{"auto", ""},
		{"never", ""},
		{"always", "no backend serves storefront.orders.v1.OrderService, storefront.catalog.v1.CatalogService"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Parse([]byte(onlyUsers+"composite: {mode: "+tc.mode+"}\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			gw, err := gateway.New(t.Context(), cfg, gateway.WithLogger(slog.New(slog.DiscardHandler)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("gateway.New error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = gw.Close() }()
			rec := httptest.NewRecorder()
			gw.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/products/sku-aeropress:page", nil))
			if rec.Code != http.StatusNotFound {
				t.Errorf("composite route answered %d, want 404 when it is not served", rec.Code)
			}
		})
	}
	t.Run("never with every backend", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, "composite: {mode: never}\n", nil)
		// The path then falls to GetUser, whose name the fake does not check.
		if r := e.get(t, "/v1/users/ada-lovelace:overview", nil); strings.Contains(string(r.body), `"user"`) {
			t.Errorf("composite served with mode never: %d %s", r.code, r.body)
		}
	})
}
