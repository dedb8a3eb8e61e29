package orders_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/server/internal/servertest"
	"github.com/archway-gateway/archway/server/orders"
)

// The callers of the authorization tests. ada-lovelace owns orders/ord-1001, -1007, -1014 and
// -1024 (PENDING); grace-hopper owns orders/ord-1022 (PAID).
var (
	ada       = identity.Identity{Subject: "ada-lovelace", Scopes: []string{"orders.write"}, Kind: "jwt"}
	scopeless = identity.Identity{Subject: "grace-hopper", Kind: "jwt"}
	admin     = identity.Identity{Subject: "fulfilment", Scopes: []string{"orders.write", orders.AdminScope}, Kind: "jwt"}
)

const (
	adaPending  = "orders/ord-1024"
	gracePaid   = "orders/ord-1022"
	unknownName = "orders/ord-9999"
)

// state returns the state of the order called name, read as an administrator.
func (f fixture) state(t *testing.T, name string) ordersv1.OrderState {
	t.Helper()
	o, err := f.client.GetOrder(t.Context(), &ordersv1.GetOrderRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return o.GetState()
}

// TestOtherUsersOrdersAreNotFound checks that an ordinary caller can neither read, list, watch
// nor cancel another user's order, nor place one for another user, and gets exactly the
// answer for an order that does not exist.
func TestOtherUsersOrdersAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := servertest.As(t.Context(), ada)
	for _, tc := range []struct {
		name string
		call func(name string) error
	}{
		{"get", func(name string) error {
			_, err := f.client.GetOrder(ctx, &ordersv1.GetOrderRequest{Name: name})
			return err
		}},
		{"cancel", func(name string) error {
			_, err := f.client.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Name: name})
			return err
		}},
		{"watch", func(name string) error {
			stream, err := f.client.WatchOrder(ctx, &ordersv1.WatchOrderRequest{Name: name})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
	} {
		missing := tc.call(unknownName)
		servertest.Code(t, missing, codes.NotFound)
		err := tc.call(gracePaid)
		servertest.Code(t, err, codes.NotFound)
		if got, want := status.Convert(err).Message(), strings.ReplaceAll(status.Convert(missing).Message(), unknownName, gracePaid); got != want {
			t.Errorf("%s: message %q, want %q, as for an order that does not exist", tc.name, got, want)
		}
	}
	_, err := f.client.ListOrders(ctx, &ordersv1.ListOrdersRequest{Parent: "users/grace-hopper"})
	servertest.Code(t, err, codes.NotFound)
	_, err = f.client.CreateOrder(ctx, &ordersv1.CreateOrderRequest{
		Parent: "users/grace-hopper",
		Order:  &ordersv1.Order{Items: []*ordersv1.LineItem{{ProductId: "sku-aeropress", Quantity: 1}}},
	})
	servertest.Code(t, err, codes.NotFound)
	if st := f.state(t, gracePaid); st != ordersv1.OrderState_ORDER_STATE_PAID {
		t.Errorf("%s is %v after the refused calls, want PAID", gracePaid, st)
	}
}

func TestOwnOrders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := servertest.As(t.Context(), ada)
	list, err := f.client.ListOrders(ctx, &ordersv1.ListOrdersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"orders/ord-1024", "orders/ord-1014", "orders/ord-1007", "orders/ord-1001"}
	if got := names(list.GetOrders()); !slices.Equal(got, want) || list.GetTotalSize() != 4 {
		t.Errorf("ListOrders = %v (total %d), want only the caller's %v", got, list.GetTotalSize(), want)
	}
	if under, err := f.client.ListOrders(ctx, &ordersv1.ListOrdersRequest{Parent: "users/ada-lovelace"}); err != nil || !slices.Equal(names(under.GetOrders()), want) {
		t.Errorf("ListOrders(own parent) = %v, %v", names(under.GetOrders()), err)
	}
	o, err := f.client.CreateOrder(ctx, &ordersv1.CreateOrderRequest{
		Parent: "users/ada-lovelace",
		Order:  &ordersv1.Order{Items: []*ordersv1.LineItem{{ProductId: "sku-aeropress", Quantity: 1}}},
	})
	if err != nil || o.GetUser() != "users/ada-lovelace" {
		t.Fatalf("CreateOrder(own) = %v, %v", o, err)
	}
	if o, err := f.client.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Name: adaPending}); err != nil || o.GetState() != ordersv1.OrderState_ORDER_STATE_CANCELLED {
		t.Errorf("CancelOrder(own) = %v, %v", o, err)
	}
	// Advancing is fulfilment's job: the owner sees the order, so the answer is PERMISSION_DENIED.
	_, err = f.client.AdvanceOrder(ctx, &ordersv1.AdvanceOrderRequest{Name: o.GetName()})
	servertest.Code(t, err, codes.PermissionDenied)
}

func TestAdminSeesEveryOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := servertest.As(t.Context(), admin)
	if list, err := f.client.ListOrders(ctx, &ordersv1.ListOrdersRequest{}); err != nil || list.GetTotalSize() != 25 {
		t.Errorf("ListOrders: total %d, %v; want all 25", list.GetTotalSize(), err)
	}
	if list, err := f.client.ListOrders(ctx, &ordersv1.ListOrdersRequest{Parent: "users/grace-hopper"}); err != nil || list.GetTotalSize() != 3 {
		t.Errorf("ListOrders(grace-hopper): total %d, %v; want 3", list.GetTotalSize(), err)
	}
	if o, err := f.client.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Name: gracePaid}); err != nil || o.GetState() != ordersv1.OrderState_ORDER_STATE_CANCELLED {
		t.Errorf("CancelOrder = %v, %v", o, err)
	}
}

func TestOrdersCallersWithoutAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.client.GetOrder(servertest.As(t.Context(), identity.Identity{}), &ordersv1.GetOrderRequest{Name: adaPending})
	servertest.Code(t, err, codes.Unauthenticated)
	_, err = f.client.CancelOrder(servertest.As(t.Context(), scopeless), &ordersv1.CancelOrderRequest{Name: gracePaid})
	servertest.Code(t, err, codes.PermissionDenied)
	_, err = orders.New(nil).GetOrder(context.Background(), &ordersv1.GetOrderRequest{Name: adaPending})
	servertest.Code(t, err, codes.Unauthenticated)
	if _, err := orders.New(nil, orders.WithInsecureNoIdentity()).GetOrder(context.Background(), &ordersv1.GetOrderRequest{Name: gracePaid}); err != nil {
		t.Errorf("GetOrder without identity, insecure: %v", err)
	}
}

func TestCountOrdersIsPublic(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, err := f.client.CountOrders(servertest.As(t.Context(), identity.Identity{}), &ordersv1.CountOrdersRequest{ProductId: "sku-espresso-250"})
	if err != nil || resp.GetTotalSize() != 4 {
		t.Errorf("CountOrders = %v, %v; want 4 orders of every user", resp, err)
	}
}

// TestSupportChatActsAsTheCaller checks that the chat is no way around the scopes and owners
// that the cancel route has: a caller cannot open a chat about another user's order, and a
// caller without orders.write cannot cancel their own order by asking support.
func TestSupportChatActsAsTheCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	c, err := f.client.SupportChat(servertest.As(t.Context(), ada))
	if err != nil {
		t.Fatal(err)
	}
	say(t, c, gracePaid, "please cancel it")
	if _, err := c.Recv(); status.Code(err) != codes.NotFound {
		t.Errorf("chat about another user's order: %v, want NOT_FOUND", err)
	}
	if st := f.state(t, gracePaid); st != ordersv1.OrderState_ORDER_STATE_PAID {
		t.Errorf("%s is %v after another user's chat, want PAID", gracePaid, st)
	}

	c, err = f.client.SupportChat(servertest.As(t.Context(), scopeless))
	if err != nil {
		t.Fatal(err)
	}
	say(t, c, gracePaid, "please cancel it")
	hear(t, c, "is ORDER_STATE_PAID")
	hear(t, c, "cannot be cancelled: this call needs the scope orders.write")
	if err := c.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after closing: %v, want EOF", err)
	}
	if st := f.state(t, gracePaid); st != ordersv1.OrderState_ORDER_STATE_PAID {
		t.Errorf("%s is %v after a chat without orders.write, want PAID", gracePaid, st)
	}
}
