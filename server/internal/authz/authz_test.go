package authz_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/server/internal/authz"
)

func TestAuthorize(t *testing.T) {
	t.Parallel()
	cancel := authz.RouteOf(ordersv1.OrderService_CancelOrder_FullMethodName)
	public := authz.RouteOf(catalogv1.CatalogService_GetProduct_FullMethodName)
	as := func(id identity.Identity) context.Context { return identity.NewContext(t.Context(), id) }
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		route      authz.Route
		unverified bool
		want       codes.Code
	}{
		{"the route's scope", as(identity.Identity{Subject: "ada", Scopes: []string{"orders.write"}}), cancel, false, codes.OK},
		{"scope missing", as(identity.Identity{Subject: "ada", Scopes: []string{"orders.admin"}}), cancel, false, codes.PermissionDenied},
		{"anonymous", as(identity.Identity{}), cancel, false, codes.Unauthenticated},
		{"anonymous, public route", as(identity.Identity{}), public, false, codes.OK},
		{"no identity", t.Context(), public, false, codes.Unauthenticated},
		{"no identity, unverified server", t.Context(), cancel, true, codes.OK},
	} {
		_, err := authz.Authorize(tc.ctx, tc.route, tc.unverified)
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestCallerUser(t *testing.T) {
	t.Parallel()
	route := authz.RouteOf(ordersv1.OrderService_GetOrder_FullMethodName)
	for _, tc := range []struct {
		subject, user string
	}{
		{"ada-lovelace", "users/ada-lovelace"},
		{"Ada", ""},
		{"auth0|5f1c", ""},
		{"ada/../grace-hopper", ""},
	} {
		c, err := authz.Authorize(identity.NewContext(t.Context(), identity.Identity{Subject: tc.subject}), route, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.User(); got != tc.user {
			t.Errorf("subject %q: user %q, want %q", tc.subject, got, tc.user)
		}
		if c.Owns("") || c.Sees("users/grace-hopper", "users.admin") {
			t.Errorf("subject %q owns or sees what is not theirs", tc.subject)
		}
	}
}

func TestRouteOfUnknownMethodPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("RouteOf of an unknown method did not panic")
		}
	}()
	authz.RouteOf("/storefront.orders.v1.OrderService/Refund")
}
