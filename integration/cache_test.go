package integration

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/archway-gateway/archway/internal/redistest"
)

// TestCacheSharedByGatewayProcesses runs two gateway processes that share one Redis server as
// their cache store: each must serve the entries the other cached, and a write through one
// must invalidate what the other cached, so that a read through either returns the write.
func TestCacheSharedByGatewayProcesses(t *testing.T) {
	t.Parallel()
	sf := startStorefront(t, []string{"users", "orders", "catalog"}, nil, "")
	rd := redistest.Start(t)
	cfg := gatewayConfig(sf.addrs) + fmt.Sprintf(`cache: {store: redis, debug_header: true}
redis: {address: %q}
`, rd.Addr())
	a, b := startGatewayConfig(t, cfg), startGatewayConfig(t, cfg)
	a.waitReady(t, startTimeout)
	b.waitReady(t, startTimeout)
	const user = "/v1/users/ada-lovelace"

	first := mustOK(t, a.do(t, http.MethodGet, user, ""))
	fromB := mustOK(t, b.do(t, http.MethodGet, user, ""))
	if got := fromB.header.Get("X-Archway-Cache"); got != "HIT" || string(fromB.body) != string(first.body) {
		t.Fatalf("gateway b: %s %s, want gateway a's entry %s", got, fromB.body, first.body)
	}

	mustOK(t, b.do(t, http.MethodPatch, user+"?update_mask=display_name", `{"display_name": "Ada, Countess of Lovelace"}`))
	after := a.do(t, http.MethodGet, user, "")
	if got := decodeUser(t, after, http.StatusOK).GetDisplayName(); got != "Ada, Countess of Lovelace" || after.header.Get("X-Archway-Cache") != "MISS" {
		t.Errorf("gateway a after b's write: %q (%s), want the new display name from the backend", got, after.header.Get("X-Archway-Cache"))
	}
	if got := metricValue(t, b, "archway_cache_hits_total"); got != 1 {
		t.Errorf("gateway b counts %v hits, want 1", got)
	}
}
