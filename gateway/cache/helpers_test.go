package cache_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/archway-gateway/archway/gateway/cache"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/internal/testkit"

	// The descriptors of the harness's methods: the cache reads their bindings and kinds.
	_ "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	_ "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	_ "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// Policies of the harness's routes, as the demo APIs declare them (shorter, to suit tests).
var (
	getUser = &policy.Policy{
		Method: "/storefront.users.v1.UserService/GetUser", Descriptor: policy.LinkedMethod("/storefront.users.v1.UserService/GetUser"), Authenticated: true,
		Cache: policy.Cache{TTL: time.Minute},
	}
	updateUser = &policy.Policy{
		Method: "/storefront.users.v1.UserService/UpdateUser", Descriptor: policy.LinkedMethod("/storefront.users.v1.UserService/UpdateUser"), Authenticated: true,
		Cache: policy.Cache{Invalidates: []string{"{user.name=users/*}"}},
	}
	getProduct = &policy.Policy{
		Method: "/storefront.catalog.v1.CatalogService/GetProduct", Descriptor: policy.LinkedMethod("/storefront.catalog.v1.CatalogService/GetProduct"),
		Cache: policy.Cache{
			TTL: time.Minute, StaleWhileRevalidate: time.Minute, Shared: true,
			NotFoundTTL: 10 * time.Second, VaryHeaders: []string{"Accept-Language"},
		},
	}
	listProducts = &policy.Policy{
		Method: "/storefront.catalog.v1.CatalogService/ListProducts", Descriptor: policy.LinkedMethod("/storefront.catalog.v1.CatalogService/ListProducts"),
		Cache: policy.Cache{TTL: time.Minute, Shared: true},
	}
	adjustStock = &policy.Policy{
		Method: "/storefront.catalog.v1.CatalogService/AdjustStock", Descriptor: policy.LinkedMethod("/storefront.catalog.v1.CatalogService/AdjustStock"), Authenticated: true,
		Cache: policy.Cache{Invalidates: []string{"products/{product_id}"}},
	}
	watchOrder = &policy.Policy{
		Method: "/storefront.orders.v1.OrderService/WatchOrder", Descriptor: policy.LinkedMethod("/storefront.orders.v1.OrderService/WatchOrder"), Authenticated: true,
		Cache: policy.Cache{TTL: time.Minute},
	}
)

// degradedHeader marks the backend's degraded answers: those to paths ending in "-partial".
const degradedHeader = "X-Degraded"

// backend answers every request with its path and the version of the resource, which each
// write to the resource increments, and counts the calls it gets per path.
type backend struct {
	mu       sync.Mutex
	calls    map[string]int
	versions map[string]int
	// status answers the paths it lists with that status instead.
	status map[string]int
	// gate, when set, holds every read until it is closed.
	gate chan struct{}
}

func newBackend() *backend {
	return &backend{calls: make(map[string]int), versions: make(map[string]int), status: make(map[string]int)}
}

// hold makes every read wait until the returned channel is closed.
func (b *backend) hold() chan struct{} {
	gate := make(chan struct{})
	b.mu.Lock()
	b.gate = gate
	b.mu.Unlock()
	return gate
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.calls[r.Method+" "+r.URL.Path]++
	gate := b.gate
	code := b.status[r.URL.Path]
	b.mu.Unlock()
	if r.Method != http.MethodGet && code != 0 {
		w.WriteHeader(code)
		return
	}
	if r.Method != http.MethodGet {
		b.mu.Lock()
		b.versions[strings.TrimSuffix(r.URL.Path, "/stock:adjust")]++
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusGatewayTimeout)
			return
		}
	}
	if code != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, `{"code":%d}`, code)
		return
	}
	b.mu.Lock()
	v := b.versions[r.URL.Path]
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if strings.HasSuffix(r.URL.Path, "-partial") {
		w.Header().Set(degradedHeader, "stock")
	}
	_, _ = fmt.Fprintf(w, `{"path":%q,"version":%d,"user":%q,"lang":%q,"accept":%q,"tenant":%q}`,
		r.URL.Path, v, r.Header.Get("X-Test-User"), r.Header.Get("Accept-Language"), r.Header.Get("Accept"),
		strings.Join(append(r.Header.Values("X-Tenant"), r.Header.Values("Grpc-Metadata-X-Tenant")...), ","))
}

func (b *backend) callsTo(methodPath string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[methodPath]
}

func (b *backend) setStatus(path string, code int) {
	b.mu.Lock()
	b.status[path] = code
	b.mu.Unlock()
}

// newClock returns a clock that tests move by hand.
func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) }

// harness is a cache in front of a backend, behind a grpc-gateway ServeMux that matches the
// routes as the gateway's does, and an HTTP test server.
type harness struct {
	url     string
	cache   *cache.Cache
	backend *backend
	clock   *testkit.Clock
	reg     *prometheus.Registry
}

// testConfig is the cache configuration of the harness: the defaults, with the debug header.
func testConfig() config.Cache {
	cfg := config.Default().Cache
	cfg.DebugHeader = true
	return cfg
}

func newHarness(t *testing.T, cfg config.Cache, opts ...cache.Option) *harness {
	t.Helper()
	h := &harness{backend: newBackend(), clock: newClock(), reg: prometheus.NewRegistry()}
	opts = append([]cache.Option{cache.WithClock(h.clock.Now), cache.WithRegisterer(h.reg), cache.WithDegradedHeaders(degradedHeader),
		cache.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	c, err := cache.New(cfg, opts...)
	if err != nil {
		t.Fatalf("cache.New: %v", err)
	}
	t.Cleanup(c.Close)
	h.cache = c
	chain := c.Middleware(h.backend)
	mux := runtime.NewServeMux()
	for _, rt := range []struct {
		method, pattern string
		p               *policy.Policy
	}{
		{http.MethodGet, "/v1/{name=users/*}", getUser},
		{http.MethodPatch, "/v1/{user.name=users/*}", updateUser},
		{http.MethodGet, "/v1/products/{id}", getProduct},
		{http.MethodGet, "/v1/catalog/products/{id}", getProduct},
		{http.MethodGet, "/v1/products", listProducts},
		{http.MethodPost, "/v1/products/{product_id}/stock:adjust", adjustStock},
		{http.MethodGet, "/v1/{name=orders/*}:watch", watchOrder},
	} {
		err := mux.HandlePath(rt.method, rt.pattern, func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
			chain.ServeHTTP(w, r.WithContext(policy.NewContext(r.Context(), rt.p)))
		})
		if err != nil {
			t.Fatalf("HandlePath %s: %v", rt.pattern, err)
		}
	}
	// The caller's identity comes from X-Test-User, as authentication would set it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, s := edge.WithState(r, "req-1")
		if u := r.Header.Get("X-Test-User"); u != "" {
			s.SetIdentity(edge.Identity{Subject: u, ClientID: "app", Kind: "jwt"})
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// response is what a test reads of an answer.
type response struct {
	code   int
	header http.Header
	body   string
}

func (h *harness) do(t *testing.T, method, path string, header map[string]string) response {
	t.Helper()
	return h.doCtx(t, t.Context(), method, path, header)
}

func (h *harness) doCtx(t *testing.T, ctx context.Context, method, path string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
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
	return response{code: resp.StatusCode, header: resp.Header, body: string(body)}
}

// metric returns the value of the cache metric name ("hits_total").
func (h *harness) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "archway_cache_"+name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric archway_cache_%s", name)
	return 0
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
