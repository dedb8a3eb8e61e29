package main

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// listening returns the service → addr pairs of the "listening" records in JSON logs.
func listening(logs string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var rec struct{ Msg, Service, Addr string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
			out[rec.Service] = rec.Addr
		}
	}
	return out
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var logs testkit.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-services", "catalog, users",
			"-catalog-addr", "127.0.0.1:0",
			"-users-addr", "127.0.0.1:0",
			"-log-format", "json",
			"-insecure-no-identity",
		}, nil, &logs)
	}()

	var addrs map[string]string
	deadline := time.Now().Add(5 * time.Second)
	for addrs = listening(logs.String()); len(addrs) < 2; addrs = listening(logs.String()) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no listening records after 5s; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := addrs["orders"]; ok {
		t.Error("orders started though not asked for")
	}
	conn, err := grpc.NewClient(addrs["catalog"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := catalogv1.NewCatalogServiceClient(conn).GetProduct(ctx, &catalogv1.GetProductRequest{Id: "sku-espresso-250"}); err != nil {
		t.Errorf("GetProduct: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil after cancellation", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	if !strings.Contains(logs.String(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown record in logs:\n%s", logs.String())
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"unknown flag", []string{"-port", "1"}, nil, "flag provided but not defined"},
		{"extra argument", []string{"serve"}, nil, "unexpected arguments"},
		{"log format", []string{"-log-format", "xml"}, nil, "-log-format"},
		{"log level", []string{"-log-level", "loud"}, nil, "-log-level"},
		{"negative connection age", []string{"-max-connection-age", "-1s"}, nil, "must not be negative"},
		{"no services", []string{"-services", " , ", "-insecure-no-identity"}, nil, "-services"},
		{"unknown service", []string{"-services", "payments", "-insecure-no-identity"}, nil, "unknown service"},
		{"orders alone", []string{"-services", "orders", "-orders-addr", "127.0.0.1:0", "-insecure-no-identity"}, nil, "-catalog-target"},
		{"no identity secret", []string{"-services", "users", "-users-addr", "127.0.0.1:0"}, nil,
			"STOREFRONT_IDENTITY_SECRET is not set: set it to the gateway's authn.identity_secret (at least 32 bytes), or pass -insecure-no-identity"},
		{"short identity secret", []string{"-services", "users", "-users-addr", "127.0.0.1:0"}, []string{"STOREFRONT_IDENTITY_SECRET=hunter2"},
			"STOREFRONT_IDENTITY_SECRET must be at least 32 bytes long, got 7"},
		{"secret and insecure", []string{"-services", "users", "-users-addr", "127.0.0.1:0", "-insecure-no-identity"}, []string{"STOREFRONT_IDENTITY_SECRET=" + testSecret},
			"-insecure-no-identity contradicts STOREFRONT_IDENTITY_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr testkit.LogBuffer
			err := run(t.Context(), tt.args, tt.environ, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}

const testSecret = "storefront-main-test-secret-0123456789"

// TestRunRequiresTheGatewaysIdentity runs the storefront with STOREFRONT_IDENTITY_SECRET: a
// direct call is refused, one signed with the secret is served, health needs no identity.
func TestRunRequiresTheGatewaysIdentity(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var logs testkit.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-services", "catalog", "-catalog-addr", "127.0.0.1:0", "-log-format", "json"},
			[]string{"PATH=/bin", "STOREFRONT_IDENTITY_SECRET=" + testSecret}, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	})
	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr = listening(logs.String())["catalog"]; addr == ""; addr = listening(logs.String())["catalog"] {
		if time.Now().After(deadline) {
			t.Fatalf("no listening record after 5s; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	signer, err := identity.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	anonymous := func(context.Context) (identity.Identity, bool) { return identity.Identity{}, false }
	for _, tc := range []struct {
		name string
		opts []grpc.DialOption
		want codes.Code
	}{
		{"direct", nil, codes.Unauthenticated},
		{"signed", []grpc.DialOption{grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptor(signer, anonymous))}, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := grpc.NewClient(addr, append(tc.opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			_, err = catalogv1.NewCatalogServiceClient(conn).GetProduct(ctx, &catalogv1.GetProductRequest{Id: "sku-espresso-250"})
			if got := status.Code(err); got != tc.want {
				t.Errorf("GetProduct: %v, want %v", err, tc.want)
			}
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health: %v, %v", resp.GetStatus(), err)
			}
		})
	}
}
