package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/server"
	"github.com/archway-gateway/archway/server/internal/servertest"
)

const identitySecret = "storefront-test-secret-0123456789abcdef"

// asGateway dials addr with the interceptors the gateway uses, signing the identity of the user
// ada-lovelace.
func asGateway(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	s, err := identity.NewSigner(identitySecret)
	if err != nil {
		t.Fatal(err)
	}
	ada := func(context.Context) (identity.Identity, bool) {
		return identity.Identity{Subject: "ada-lovelace", Scopes: []string{"orders.write"}, Kind: "jwt"}, true
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptor(s, ada)),
		grpc.WithChainStreamInterceptor(identity.StreamClientInterceptor(s, ada)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestIdentityRequired(t *testing.T) {
	t.Parallel()
	sf := start(t, server.Options{IdentitySecret: identitySecret}, nil)
	ctx := t.Context()
	users := sf.Addr(server.Users)
	orders := sf.Addr(server.Orders)
	newOrder := &ordersv1.CreateOrderRequest{
		Parent: "users/ada-lovelace",
		Order:  &ordersv1.Order{Items: []*ordersv1.LineItem{{ProductId: "sku-grinder-hand", Quantity: 2}}},
	}
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"direct call", func() error {
			_, err := usersv1.NewUserServiceClient(dial(t, users)).GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"})
			return err
		}, codes.Unauthenticated},
		{"through the gateway", func() error {
			_, err := usersv1.NewUserServiceClient(asGateway(t, users)).GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"})
			return err
		}, codes.OK},
		{"auth before validation", func() error {
			_, err := usersv1.NewUserServiceClient(dial(t, users)).GetUser(ctx, &usersv1.GetUserRequest{Name: "Ada"})
			return err
		}, codes.Unauthenticated},
		{"validation after auth", func() error {
			_, err := usersv1.NewUserServiceClient(asGateway(t, users)).GetUser(ctx, &usersv1.GetUserRequest{Name: "Ada"})
			return err
		}, codes.InvalidArgument},
		{"orders forwards the identity to the catalog", func() error {
			o, err := ordersv1.NewOrderServiceClient(asGateway(t, orders)).CreateOrder(ctx, newOrder)
			if err == nil && o.GetTotalMinor() != 17800 {
				t.Errorf("total = %d, want 17800", o.GetTotalMinor())
			}
			return err
		}, codes.OK},
		{"direct stream", func() error {
			stream, err := ordersv1.NewOrderServiceClient(dial(t, orders)).WatchOrder(ctx, &ordersv1.WatchOrderRequest{Name: "users/ada-lovelace/orders/1"})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, codes.Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			servertest.Code(t, tc.call(), tc.want)
		})
	}
	t.Run("health and reflection need no identity", func(t *testing.T) {
		t.Parallel()
		conn := dial(t, users)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health: %v, %v", resp.GetStatus(), err)
		}
		if got := reflectedServices(t, conn); !slices.Contains(got, "storefront.users.v1.UserService") {
			t.Errorf("reflection lists %v", got)
		}
	})
}

func TestStartRejectsShortSecret(t *testing.T) {
	t.Parallel()
	_, err := server.Start(t.Context(), server.Options{IdentitySecret: "short"})
	if err == nil || !strings.Contains(err.Error(), "IdentitySecret") {
		t.Errorf("Start with a 5-byte secret: %v, want an error naming IdentitySecret", err)
	}
}
