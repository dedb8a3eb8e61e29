package orders_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	"github.com/archway-gateway/archway/server/catalog"
	"github.com/archway-gateway/archway/server/internal/servertest"
	"github.com/archway-gateway/archway/server/orders"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var fixedNow = time.Date(2026, time.April, 1, 12, 0, 0, 0, time.UTC)

// seedTime is the moment the seed data is dated from.
var seedTime = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// countingCatalog counts BatchGetProducts calls and can fail them.
type countingCatalog struct {
	catalogv1.CatalogServiceClient
	mu    sync.Mutex
	calls int
	err   error
}

func (c *countingCatalog) BatchGetProducts(ctx context.Context, in *catalogv1.BatchGetProductsRequest, opts ...grpc.CallOption) (*catalogv1.BatchGetProductsResponse, error) {
	c.mu.Lock()
	c.calls++
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.CatalogServiceClient.BatchGetProducts(ctx, in, opts...)
}

func (c *countingCatalog) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

type fixture struct {
	client  ordersv1.OrderServiceClient
	svc     *orders.Service
	catalog *countingCatalog
}

// newFixture serves a seeded catalog and an orders service that prices from it, each through
// the real server chain.
func newFixture(t *testing.T) fixture {
	t.Helper()
	catConn := servertest.Dial(t, func(r grpc.ServiceRegistrar) { catalogv1.RegisterCatalogServiceServer(r, catalog.New()) })
	cat := &countingCatalog{CatalogServiceClient: catalogv1.NewCatalogServiceClient(catConn)}
	svc := orders.New(cat, orders.WithClock(func() time.Time { return fixedNow }))
	t.Cleanup(svc.Close)
	conn := servertest.Dial(t, func(r grpc.ServiceRegistrar) { ordersv1.RegisterOrderServiceServer(r, svc) })
	return fixture{client: ordersv1.NewOrderServiceClient(conn), svc: svc, catalog: cat}
}

func names(os []*ordersv1.Order) []string {
	out := make([]string, 0, len(os))
	for _, o := range os {
		out = append(out, o.GetName())
	}
	return out
}

func TestSeedPricesMatchCatalog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	list, err := f.client.ListOrders(ctx, &ordersv1.ListOrdersRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetOrders()) != 25 {
		t.Fatalf("%d seed orders, want 25", len(list.GetOrders()))
	}
	for _, o := range list.GetOrders() {
		var ids []string
		var total int64
		for _, it := range o.GetItems() {
			ids = append(ids, it.GetProductId())
			total += it.GetUnitPriceMinor() * int64(it.GetQuantity())
		}
		if n := len(o.GetItems()); n < 1 || n > 4 {
			t.Errorf("%s has %d items, want 1 to 4", o.GetName(), n)
		}
		if total != o.GetTotalMinor() || o.GetCurrencyCode() != "EUR" {
			t.Errorf("%s: total %d %s, items add up to %d EUR", o.GetName(), o.GetTotalMinor(), o.GetCurrencyCode(), total)
		}
		resp, err := f.catalog.CatalogServiceClient.BatchGetProducts(ctx, &catalogv1.BatchGetProductsRequest{Ids: ids})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetMissingIds()) > 0 {
			t.Errorf("%s names unknown products %v", o.GetName(), resp.GetMissingIds())
		}
		for i, p := range resp.GetProducts() {
			if got := o.GetItems()[i].GetUnitPriceMinor(); got != p.GetPrice().GetAmountMinor() {
				t.Errorf("%s: %s priced %d, catalog says %d", o.GetName(), p.GetId(), got, p.GetPrice().GetAmountMinor())
			}
		}
	}
}

func TestCreateOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	o, err := f.client.CreateOrder(ctx, &ordersv1.CreateOrderRequest{
		Parent: "users/grace-hopper",
		Order: &ordersv1.Order{
			Name:       "orders/client-chosen",
			State:      ordersv1.OrderState_ORDER_STATE_DELIVERED,
			TotalMinor: 1,
			Items: []*ordersv1.LineItem{
				{ProductId: "sku-espresso-250", Quantity: 2, UnitPriceMinor: 1},
				{ProductId: "sku-v60-dripper", Quantity: 1},
				{ProductId: "sku-espresso-250", Quantity: 1},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.GetName() != "orders/ord-1026" || o.GetUser() != "users/grace-hopper" || o.GetState() != ordersv1.OrderState_ORDER_STATE_PENDING {
		t.Errorf("order = %v, want orders/ord-1026 of grace-hopper, PENDING", o)
	}
	if want := int64(2*1290 + 2490 + 1290); o.GetTotalMinor() != want || o.GetCurrencyCode() != "EUR" {
		t.Errorf("total = %d %s, want %d EUR", o.GetTotalMinor(), o.GetCurrencyCode(), want)
	}
	if got := o.GetItems()[0].GetUnitPriceMinor(); got != 1290 {
		t.Errorf("unit price = %d, want the catalog's 1290", got)
	}
	if !o.GetCreateTime().AsTime().Equal(fixedNow) {
		t.Errorf("create_time = %v, want %v", o.GetCreateTime().AsTime(), fixedNow)
	}
	if n := f.catalog.count(); n != 1 {
		t.Errorf("%d catalog calls, want 1", n)
	}
	got, err := f.client.GetOrder(ctx, &ordersv1.GetOrderRequest{Name: o.GetName()})
	if err != nil || got.GetTotalMinor() != o.GetTotalMinor() {
		t.Errorf("GetOrder = %v, %v", got, err)
	}
}

func TestCreateOrderInvalid(t *testing.T) {
	t.Parallel()
	item := func(id string, qty int32) *ordersv1.LineItem { return &ordersv1.LineItem{ProductId: id, Quantity: qty} }
	tests := []struct {
		name       string
		req        *ordersv1.CreateOrderRequest
		violations []string
	}{
		{"unknown products", &ordersv1.CreateOrderRequest{Parent: "users/ada-lovelace", Order: &ordersv1.Order{Items: []*ordersv1.LineItem{
			item("sku-espresso-250", 1), item("sku-tea", 1), item("sku-aeropress", 1), item("sku-cocoa", 2),
		}}}, []string{"order.items[1].product_id", "order.items[3].product_id"}},
		{"no items", &ordersv1.CreateOrderRequest{Parent: "users/ada-lovelace", Order: &ordersv1.Order{}}, []string{"order.items"}},
		{"bad quantity", &ordersv1.CreateOrderRequest{Parent: "users/ada-lovelace", Order: &ordersv1.Order{Items: []*ordersv1.LineItem{
			item("sku-espresso-250", 0), item("sku-aeropress", 101),
		}}}, []string{"order.items[0].quantity", "order.items[1].quantity"}},
		{"bad parent", &ordersv1.CreateOrderRequest{Parent: "ada", Order: &ordersv1.Order{Items: []*ordersv1.LineItem{item("sku-aeropress", 1)}}}, []string{"parent"}},
		{"no order", &ordersv1.CreateOrderRequest{Parent: "users/ada-lovelace"}, []string{"order"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			_, err := f.client.CreateOrder(t.Context(), tt.req)
			v := servertest.Violations(t, err)
			if len(v) != len(tt.violations) {
				t.Errorf("violations = %v, want exactly %v", v, tt.violations)
			}
			for _, field := range tt.violations {
				if v[field] == "" {
					t.Errorf("violations = %v, want one on %s", v, field)
				}
			}
			list, err := f.client.ListOrders(t.Context(), &ordersv1.ListOrdersRequest{})
			if err != nil || list.GetTotalSize() != 25 {
				t.Errorf("after a failed create: %d orders (%v), want 25", list.GetTotalSize(), err)
			}
		})
	}

	t.Run("catalog down", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.catalog.mu.Lock()
		f.catalog.err = status.Error(codes.Unavailable, "connection refused to 10.0.0.7")
		f.catalog.mu.Unlock()
		_, err := f.client.CreateOrder(t.Context(), &ordersv1.CreateOrderRequest{Parent: "users/ada-lovelace",
			Order: &ordersv1.Order{Items: []*ordersv1.LineItem{item("sku-aeropress", 1)}}})
		servertest.Code(t, err, codes.Unavailable)
		if msg := status.Convert(err).Message(); strings.Contains(msg, "10.0.0.7") {
			t.Errorf("catalog's message %q passed on", msg)
		}
	})
}

func TestListOrders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name string
		req  *ordersv1.ListOrdersRequest
		want []string
	}{
		{"one user", &ordersv1.ListOrdersRequest{Parent: "users/ada-lovelace"},
			[]string{"orders/ord-1024", "orders/ord-1014", "orders/ord-1007", "orders/ord-1001"}},
		{"states", &ordersv1.ListOrdersRequest{States: []ordersv1.OrderState{ordersv1.OrderState_ORDER_STATE_CANCELLED, ordersv1.OrderState_ORDER_STATE_SHIPPED}},
			[]string{"orders/ord-1018", "orders/ord-1016", "orders/ord-1014", "orders/ord-1013", "orders/ord-1011", "orders/ord-1008", "orders/ord-1004"}},
		{"created after", &ordersv1.ListOrdersRequest{CreatedAfter: timestamppb.New(seedTime.Add(-3 * 24 * time.Hour))},
			[]string{"orders/ord-1025", "orders/ord-1024", "orders/ord-1023"}},
		{"total range", &ordersv1.ListOrdersRequest{Total: &ordersv1.TotalRange{MinMinor: 30000}},
			[]string{"orders/ord-1017", "orders/ord-1004"}},
		{"total max", &ordersv1.ListOrdersRequest{Total: &ordersv1.TotalRange{MaxMinor: 3000}},
			[]string{"orders/ord-1019"}},
		{"total between", &ordersv1.ListOrdersRequest{Total: &ordersv1.TotalRange{MinMinor: 4000, MaxMinor: 5000}},
			[]string{"orders/ord-1021", "orders/ord-1015", "orders/ord-1013", "orders/ord-1011", "orders/ord-1008"}},
		{"product", &ordersv1.ListOrdersRequest{ProductId: "sku-grinder-burr-pro"},
			[]string{"orders/ord-1017", "orders/ord-1001"}},
		{"combined", &ordersv1.ListOrdersRequest{Parent: "users/grace-hopper", States: []ordersv1.OrderState{ordersv1.OrderState_ORDER_STATE_PAID}},
			[]string{"orders/ord-1022"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := f.client.ListOrders(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(resp.GetOrders()); !slices.Equal(got, tt.want) {
				t.Errorf("orders = %v, want %v", got, tt.want)
			}
			if int(resp.GetTotalSize()) != len(tt.want) {
				t.Errorf("total_size = %d, want %d", resp.GetTotalSize(), len(tt.want))
			}
		})
	}
}

func TestListOrdersPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	var got []string
	req := &ordersv1.ListOrdersRequest{PageSize: 7}
	for {
		resp, err := f.client.ListOrders(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, names(resp.GetOrders())...)
		if resp.GetNextPageToken() == "" {
			break
		}
		// An order placed between pages is newer than the cursor: it must not shift the pages.
		if _, err := f.client.CreateOrder(ctx, &ordersv1.CreateOrderRequest{Parent: "users/ada-lovelace",
			Order: &ordersv1.Order{Items: []*ordersv1.LineItem{{ProductId: "sku-aeropress", Quantity: 1}}}}); err != nil {
			t.Fatal(err)
		}
		req = &ordersv1.ListOrdersRequest{PageSize: 7, PageToken: resp.GetNextPageToken()}
	}
	var want []string
	for n := 1025; n >= 1001; n-- {
		want = append(want, fmt.Sprintf("orders/ord-%d", n))
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}

	_, err := f.client.ListOrders(ctx, &ordersv1.ListOrdersRequest{PageToken: "AAAA"})
	if v := servertest.Violations(t, err); v["page_token"] == "" {
		t.Errorf("violations = %v, want one on page_token", v)
	}
}

func TestStateChanges(t *testing.T) {
	t.Parallel()
	type step struct {
		cancel bool
		code   codes.Code
		want   ordersv1.OrderState
	}
	tests := []struct {
		name  string
		order string
		steps []step
	}{
		{"full fulfilment", "orders/ord-1025", []step{
			{false, codes.OK, ordersv1.OrderState_ORDER_STATE_PAID},
			{false, codes.OK, ordersv1.OrderState_ORDER_STATE_SHIPPED},
			{true, codes.FailedPrecondition, ordersv1.OrderState_ORDER_STATE_SHIPPED},
			{false, codes.OK, ordersv1.OrderState_ORDER_STATE_DELIVERED},
			{false, codes.FailedPrecondition, ordersv1.OrderState_ORDER_STATE_DELIVERED},
			{true, codes.FailedPrecondition, ordersv1.OrderState_ORDER_STATE_DELIVERED},
		}},
		{"cancel paid", "orders/ord-1022", []step{
			{true, codes.OK, ordersv1.OrderState_ORDER_STATE_CANCELLED},
			{true, codes.FailedPrecondition, ordersv1.OrderState_ORDER_STATE_CANCELLED},
			{false, codes.FailedPrecondition, ordersv1.OrderState_ORDER_STATE_CANCELLED},
		}},
		{"unknown", "orders/ord-9999", []step{{false, codes.NotFound, 0}, {true, codes.NotFound, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := t.Context()
			for i, s := range tt.steps {
				var o *ordersv1.Order
				var err error
				if s.cancel {
					o, err = f.client.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Name: tt.order, Reason: "found it cheaper"})
				} else {
					o, err = f.client.AdvanceOrder(ctx, &ordersv1.AdvanceOrderRequest{Name: tt.order})
				}
				servertest.Code(t, err, s.code)
				switch s.code {
				case codes.OK:
					if o.GetState() != s.want || !o.GetUpdateTime().AsTime().Equal(fixedNow) {
						t.Errorf("step %d: %v at %v, want %v at %v", i, o.GetState(), o.GetUpdateTime().AsTime(), s.want, fixedNow)
					}
					if s.cancel && o.GetCancelReason() != "found it cheaper" {
						t.Errorf("step %d: cancel_reason = %q", i, o.GetCancelReason())
					}
				case codes.FailedPrecondition:
					if typ := servertest.Precondition(t, err); typ != "STATE" {
						t.Errorf("step %d: precondition type %q, want STATE", i, typ)
					}
					got, err := f.client.GetOrder(ctx, &ordersv1.GetOrderRequest{Name: tt.order})
					if err != nil || got.GetState() != s.want {
						t.Errorf("step %d: after a refused change, order is %v (%v), want %v", i, got.GetState(), err, s.want)
					}
				}
			}
		})
	}
}

// recvAll reads a watch stream to its end and returns the states it carried and the error
// that ended it (nil for a clean end).
func recvAll(stream grpc.ServerStreamingClient[ordersv1.OrderEvent]) ([]ordersv1.OrderState, error) {
	var states []ordersv1.OrderState
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return states, nil
		}
		if err != nil {
			return states, err
		}
		states = append(states, ev.GetOrder().GetState())
	}
}

func TestWatchOrder(t *testing.T) {
	t.Parallel()
	const (
		pending   = ordersv1.OrderState_ORDER_STATE_PENDING
		paid      = ordersv1.OrderState_ORDER_STATE_PAID
		shipped   = ordersv1.OrderState_ORDER_STATE_SHIPPED
		delivered = ordersv1.OrderState_ORDER_STATE_DELIVERED
		cancelled = ordersv1.OrderState_ORDER_STATE_CANCELLED
	)
	tests := []struct {
		name    string
		order   string
		changes []string // "advance" or "cancel", made after the first event
		want    []ordersv1.OrderState
	}{
		{"pending to delivered", "orders/ord-1024", []string{"advance", "advance", "advance"}, []ordersv1.OrderState{pending, paid, shipped, delivered}},
		{"cancelled after payment", "orders/ord-1021", []string{"advance", "cancel"}, []ordersv1.OrderState{pending, paid, cancelled}},
		{"already delivered", "orders/ord-1001", nil, []ordersv1.OrderState{delivered}},
		{"already cancelled", "orders/ord-1004", nil, []ordersv1.OrderState{cancelled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := t.Context()
			stream, err := f.client.WatchOrder(ctx, &ordersv1.WatchOrderRequest{Name: tt.order})
			if err != nil {
				t.Fatal(err)
			}
			first, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if first.GetOrder().GetName() != tt.order || first.GetEventTime() == nil {
				t.Errorf("first event = %v", first)
			}
			for _, c := range tt.changes {
				if c == "cancel" {
					_, err = f.client.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Name: tt.order})
				} else {
					_, err = f.client.AdvanceOrder(ctx, &ordersv1.AdvanceOrderRequest{Name: tt.order})
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			rest, err := recvAll(stream)
			if err != nil {
				t.Fatalf("stream ended with %v, want a clean end", err)
			}
			if got := append([]ordersv1.OrderState{first.GetOrder().GetState()}, rest...); !slices.Equal(got, tt.want) {
				t.Errorf("states = %v, want %v", got, tt.want)
			}
			waitNoWatchers(t, f.svc)
		})
	}

	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		stream, err := f.client.WatchOrder(t.Context(), &ordersv1.WatchOrderRequest{Name: "orders/ord-9999"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		servertest.Code(t, err, codes.NotFound)
	})
	t.Run("invalid name", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		stream, err := f.client.WatchOrder(t.Context(), &ordersv1.WatchOrderRequest{Name: "ord-1001"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		if v := servertest.Violations(t, err); v["name"] == "" {
			t.Errorf("violations = %v, want one on name", v)
		}
	})
	t.Run("client goes away", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		ctx, cancel := context.WithCancel(t.Context())
		stream, err := f.client.WatchOrder(ctx, &ordersv1.WatchOrderRequest{Name: "orders/ord-1023"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		if n := f.svc.Watchers(); n != 1 {
			t.Errorf("%d watchers while watching, want 1", n)
		}
		cancel()
		_, err = stream.Recv()
		servertest.Code(t, err, codes.Canceled)
		waitNoWatchers(t, f.svc)
	})
	t.Run("service closed", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		stream, err := f.client.WatchOrder(t.Context(), &ordersv1.WatchOrderRequest{Name: "orders/ord-1023"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		f.svc.Close()
		_, err = recvAll(stream)
		servertest.Code(t, err, codes.Unavailable)
		again, err := f.client.WatchOrder(t.Context(), &ordersv1.WatchOrderRequest{Name: "orders/ord-1023"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = again.Recv()
		servertest.Code(t, err, codes.Unavailable)
	})
}

// waitNoWatchers waits until svc has no open subscription; a stream's handler returns shortly
// after its client sees the end.
func waitNoWatchers(t *testing.T, svc *orders.Service) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for svc.Watchers() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d watchers left", svc.Watchers())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	const order = "orders/ord-1020" // PENDING: three steps to DELIVERED

	stream, err := f.client.WatchOrder(ctx, &ordersv1.WatchOrderRequest{Name: order})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		advanced, fails int
		created         = map[string]bool{}
	)
	for range 20 {
		wg.Go(func() {
			_, err := f.client.AdvanceOrder(ctx, &ordersv1.AdvanceOrderRequest{Name: order})
			mu.Lock()
			defer mu.Unlock()
			switch status.Code(err) {
			case codes.OK:
				advanced++
			case codes.FailedPrecondition:
				fails++
			default:
				t.Errorf("AdvanceOrder: %v", err)
			}
		})
		wg.Go(func() {
			o, err := f.client.CreateOrder(ctx, &ordersv1.CreateOrderRequest{Parent: "users/konrad-zuse",
				Order: &ordersv1.Order{Items: []*ordersv1.LineItem{{ProductId: "sku-espresso-250", Quantity: 1}}}})
			if err != nil {
				t.Errorf("CreateOrder: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			created[o.GetName()] = true
		})
	}
	wg.Wait()
	if advanced != 3 || fails != 17 {
		t.Errorf("%d advances succeeded, %d failed; want 3 and 17", advanced, fails)
	}
	if len(created) != 20 {
		t.Errorf("%d distinct new orders, want 20", len(created))
	}
	states, err := recvAll(stream)
	if err != nil || !slices.Equal(states, []ordersv1.OrderState{
		ordersv1.OrderState_ORDER_STATE_PAID, ordersv1.OrderState_ORDER_STATE_SHIPPED, ordersv1.OrderState_ORDER_STATE_DELIVERED,
	}) {
		t.Errorf("watched %v (%v), want PAID, SHIPPED, DELIVERED", states, err)
	}
}
