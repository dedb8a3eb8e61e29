package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/internal/testkit"
	"github.com/archway-gateway/archway/server"
	"github.com/archway-gateway/archway/server/internal/servertest"
)

func TestParseFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want map[string]server.Fault
		err  string
	}{
		{spec: "", want: map[string]server.Fault{}},
		{spec: "users=delay:50ms; catalog=fail:unavailable ;orders=hang", want: map[string]server.Fault{
			"users":   {Delay: 50 * time.Millisecond},
			"catalog": {Code: codes.Unavailable},
			"orders":  {Hang: true},
		}},
		{spec: "orders=delay:10ms,fail:NOT_FOUND", want: map[string]server.Fault{
			"orders": {Delay: 10 * time.Millisecond, Code: codes.NotFound},
		}},
		{spec: "billing=hang", err: "want service=action"},
		{spec: "users", err: "want service=action"},
		{spec: "users=hang;users=hang", err: "named twice"},
		{spec: "users=delay:5", err: "positive duration"},
		{spec: "users=fail:ok", err: "other than ok"},
		{spec: "users=fail:broken", err: "other than ok"},
		{spec: "users=explode", err: "unknown action"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			got, err := server.ParseFaults(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseFaults(%q) = %v, %v; want an error containing %q", tc.spec, got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ParseFaults(%q) = %v, want %v", tc.spec, got, tc.want)
			}
			for name, f := range tc.want {
				if got[name] != f {
					t.Errorf("ParseFaults(%q)[%s] = %+v, want %+v", tc.spec, name, got[name], f)
				}
				if again, err := server.ParseFaults(name + "=" + f.String()); err != nil || again[name] != f {
					t.Errorf("String() %q does not parse back: %v, %v", f.String(), again, err)
				}
			}
		})
	}
}

// TestFaults checks each kind of fault over a real Storefront, and that health checks and
// services without a fault are left alone.
func TestFaults(t *testing.T) {
	t.Parallel()
	var logs testkit.LogBuffer
	sf := start(t, server.Options{Faults: map[string]server.Fault{
		server.Users:   {Hang: true},
		server.Catalog: {Delay: 30 * time.Millisecond, Code: codes.Unavailable},
	}}, &logs)
	conns := map[string]*grpc.ClientConn{server.Users: dial(t, sf.Addr(server.Users)), server.Catalog: dial(t, sf.Addr(server.Catalog))}
	users := usersv1.NewUserServiceClient(conns[server.Users])
	catalog := catalogv1.NewCatalogServiceClient(conns[server.Catalog])

	// Health checks pass despite the faults. They also connect the clients, so that the short
	// deadline of the hung call below is not spent connecting on a busy machine.
	for _, name := range []string{server.Users, server.Catalog} {
		resp, err := healthpb.NewHealthClient(conns[name]).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health: %v, %v; want SERVING despite the fault", name, resp, err)
		}
	}

	begin := time.Now()
	_, err := catalog.GetProduct(t.Context(), &catalogv1.GetProductRequest{Id: "sku-aeropress"})
	servertest.Code(t, err, codes.Unavailable)
	if d := time.Since(begin); d < 30*time.Millisecond {
		t.Errorf("failed after %v, want the 30ms delay first", d)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = users.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"})
	servertest.Code(t, err, codes.DeadlineExceeded)

	// The hung call's record says how its context ended, as the backend saw it: its own deadline,
	// or the client's cancellation when the client's deadline reached the server first.
	want := map[string][]string{
		"storefront.catalog.v1.CatalogService/GetProduct": {"failed"},
		"storefront.users.v1.UserService/GetUser":         {"context deadline exceeded", "context canceled"},
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		for method, outcomes := range faultRecords(logs.String()) {
			for _, o := range outcomes {
				if slices.Contains(want[method], o) {
					delete(want, method)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(want) > 0 {
		t.Errorf("no injected fault records for %v in:\n%s", want, logs.String())
	}
}

// faultRecords returns the "injected fault" records in logs as grpc.method → outcomes.
func faultRecords(logs string) map[string][]string {
	got := make(map[string][]string)
	for line := range strings.SplitSeq(logs, "\n") {
		var rec struct {
			Msg     string `json:"msg"`
			Method  string `json:"grpc.method"`
			Outcome string `json:"outcome"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "injected fault" {
			got[rec.Method] = append(got[rec.Method], rec.Outcome)
		}
	}
	return got
}
