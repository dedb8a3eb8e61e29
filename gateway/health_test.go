package gateway_test

import (
	"net/http"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestReadiness checks that /readyz follows the backends' health as the gateway's connections
// watch it, and that answering it, however often, makes no health check call.
func TestReadiness(t *testing.T) {
	t.Parallel()
	// A generous check timeout: the first check also connects, which is slow on a busy machine.
	env := newTestEnv(t, "readiness: {check_timeout: 5s}\n", nil)
	// Each service says SERVING too, as a gateway that asked each of them would want.
	env.health.SetServingStatus("storefront.users.v1.UserService", healthpb.HealthCheckResponse_SERVING)
	env.health.SetServingStatus("storefront.orders.v1.OrderService", healthpb.HealthCheckResponse_SERVING)
	readyz := func() (reply, []byte) { return do(t, "GET", env.url+"/readyz", "", nil) }
	if resp, body := readyz(); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %d: %s", resp.StatusCode, body)
	}
	for range 50 {
		if resp, body := readyz(); resp.StatusCode != http.StatusOK {
			t.Fatalf("readyz = %d: %s", resp.StatusCode, body)
		}
	}
	if n := env.backendCalls("/grpc.health.v1.Health/Check"); n != 0 {
		t.Errorf("51 calls of /readyz made %d health checks, want none", n)
	}

	env.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	var resp reply
	var body []byte
	if !eventually(func() bool { resp, body = readyz(); return resp.StatusCode != http.StatusOK }) {
		t.Fatalf("readyz with the backends NOT_SERVING = %d: %s", resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the backends NOT_SERVING = %d, want 503: %s", resp.StatusCode, body)
	}
	decodeStatus(t, resp, body)
	env.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if !eventually(func() bool { resp, body = readyz(); return resp.StatusCode == http.StatusOK }) {
		t.Fatalf("readyz with the backends SERVING again = %d: %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", env.url+"/healthz", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz = %d", resp.StatusCode)
	}
	if n := env.backendCalls("/grpc.health.v1.Health/Check"); n != 0 {
		t.Errorf("/readyz made %d health checks, want none", n)
	}
}

// eventually polls cond every 10ms for up to 10s and reports whether it held.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
