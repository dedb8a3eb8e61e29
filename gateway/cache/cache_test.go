package cache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/cache"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

func TestHitAfterMiss(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	first := h.do(t, http.MethodGet, "/v1/products/p1", nil)
	h.clock.Advance(3 * time.Second)
	second := h.do(t, http.MethodGet, "/v1/products/p1", nil)
	for _, tc := range []struct {
		name string
		got  response
		how  string
		age  string
	}{
		{"first", first, "MISS", "0"},
		{"second", second, "HIT", "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.code != http.StatusOK || !strings.Contains(tc.got.body, `"version":0`) {
				t.Fatalf("got %d %s", tc.got.code, tc.got.body)
			}
			for k, want := range map[string]string{
				cache.HeaderDebug: tc.how,
				"Age":             tc.age,
				"Cache-Control":   "public, max-age=60, stale-while-revalidate=60",
				"Vary":            "Accept, Accept-Language",
				"Content-Type":    "application/json",
			} {
				if got := tc.got.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if etag := tc.got.header.Get("ETag"); !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
				t.Errorf("ETag = %q, want a strong tag", etag)
			}
		})
	}
	if first.header.Get("ETag") != second.header.Get("ETag") || first.body != second.body {
		t.Errorf("the hit differs from the miss: %q %s, then %q %s", first.header.Get("ETag"), first.body, second.header.Get("ETag"), second.body)
	}
	if n := h.backend.callsTo("GET /v1/products/p1"); n != 1 {
		t.Errorf("backend calls = %d, want 1", n)
	}
	if hits, misses := h.metric(t, "hits_total"), h.metric(t, "misses_total"); hits != 1 || misses != 1 {
		t.Errorf("hits, misses = %v, %v; want 1, 1", hits, misses)
	}
}

func TestKeyParts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		path         string
		first, again map[string]string
		wantCalls    int
	}{
		{"same query", "/v1/products?page_size=2", nil, nil, 1},
		{"accept", "/v1/products/p1", map[string]string{"Accept": "application/json"}, map[string]string{"Accept": "text/event-stream"}, 2},
		{"vary header", "/v1/products/p1", map[string]string{"Accept-Language": "en"}, map[string]string{"Accept-Language": "fr"}, 2},
		{"shared route, other callers", "/v1/products/p1", map[string]string{"X-Test-User": "ada"}, map[string]string{"X-Test-User": "grace"}, 1},
		{"private route, other callers", "/v1/users/ada", map[string]string{"X-Test-User": "ada"}, map[string]string{"X-Test-User": "grace"}, 2},
		{"private route, same caller", "/v1/users/ada", map[string]string{"X-Test-User": "ada"}, map[string]string{"X-Test-User": "ada"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, testConfig())
			a := h.do(t, http.MethodGet, tc.path, tc.first)
			b := h.do(t, http.MethodGet, tc.path, tc.again)
			path, _, _ := strings.Cut(tc.path, "?")
			if n := h.backend.callsTo("GET " + path); n != tc.wantCalls {
				t.Errorf("backend calls = %d, want %d", n, tc.wantCalls)
			}
			if tc.wantCalls == 2 && a.body == b.body {
				t.Errorf("both callers got %s", a.body)
			}
		})
	}
}

func TestPrivateResponsesStayWithTheirCaller(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	ada := h.do(t, http.MethodGet, "/v1/users/ada", map[string]string{"X-Test-User": "ada"})
	grace := h.do(t, http.MethodGet, "/v1/users/ada", map[string]string{"X-Test-User": "grace"})
	adaAgain := h.do(t, http.MethodGet, "/v1/users/ada", map[string]string{"X-Test-User": "ada"})
	if !strings.Contains(grace.body, `"user":"grace"`) || grace.header.Get(cache.HeaderDebug) != "MISS" {
		t.Errorf("grace got %s (%s), want her own answer", grace.body, grace.header.Get(cache.HeaderDebug))
	}
	if adaAgain.body != ada.body || adaAgain.header.Get(cache.HeaderDebug) != "HIT" {
		t.Errorf("ada's second read got %s (%s), want her cached answer %s", adaAgain.body, adaAgain.header.Get(cache.HeaderDebug), ada.body)
	}
	if cc := ada.header.Get("Cache-Control"); cc != "private, max-age=60" {
		t.Errorf("Cache-Control = %q, want private", cc)
	}
	if vary := ada.header.Get("Vary"); vary != "Accept, Authorization" {
		t.Errorf("Vary = %q, want the credentials listed", vary)
	}
}

func TestNotModified(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	first := h.do(t, http.MethodGet, "/v1/products/p1", nil)
	tag := first.header.Get("ETag")
	tests := []struct {
		name        string
		ifNoneMatch string
		want        int
	}{
		{"matching", tag, http.StatusNotModified},
		{"weak form", "W/" + tag, http.StatusNotModified},
		{"in a list", `"other", ` + tag, http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"other", `"other"`, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := h.do(t, http.MethodGet, "/v1/products/p1", map[string]string{"If-None-Match": tc.ifNoneMatch})
			if got.code != tc.want {
				t.Fatalf("status %d, want %d", got.code, tc.want)
			}
			if tc.want == http.StatusNotModified {
				if got.body != "" || got.header.Get("ETag") != tag || got.header.Get("Cache-Control") == "" {
					t.Errorf("304 with body %q, ETag %q, Cache-Control %q", got.body, got.header.Get("ETag"), got.header.Get("Cache-Control"))
				}
			}
		})
	}
}

func TestExpiryAndStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	h.do(t, http.MethodGet, "/v1/users/ada", map[string]string{"X-Test-User": "ada"})
	h.do(t, http.MethodGet, "/v1/products/p1", nil)
	h.clock.Advance(61 * time.Second)

	// GetUser has no stale-while-revalidate: past its TTL it is a miss.
	if got := h.do(t, http.MethodGet, "/v1/users/ada", map[string]string{"X-Test-User": "ada"}); got.header.Get(cache.HeaderDebug) != "MISS" {
		t.Errorf("expired read: %s, want MISS", got.header.Get(cache.HeaderDebug))
	}
	if n := h.backend.callsTo("GET /v1/users/ada"); n != 2 {
		t.Errorf("GetUser backend calls = %d, want 2", n)
	}

	// GetProduct may be served stale for a minute while one background call refreshes it.
	stale := h.do(t, http.MethodGet, "/v1/products/p1", nil)
	if stale.code != http.StatusOK || stale.header.Get(cache.HeaderDebug) != "STALE" || stale.header.Get("Age") != "61" {
		t.Fatalf("stale read: %d %s, Age %s", stale.code, stale.header.Get(cache.HeaderDebug), stale.header.Get("Age"))
	}
	waitFor(t, "the background refresh", func() bool { return h.backend.callsTo("GET /v1/products/p1") == 2 })
	waitFor(t, "the refreshed entry", func() bool {
		return h.do(t, http.MethodGet, "/v1/products/p1", nil).header.Get(cache.HeaderDebug) == "HIT"
	})
	h.clock.Advance(2 * time.Minute)
	if got := h.do(t, http.MethodGet, "/v1/products/p1", nil); got.header.Get(cache.HeaderDebug) != "MISS" {
		t.Errorf("read past the stale window: %s, want MISS", got.header.Get(cache.HeaderDebug))
	}
}

func TestErrorsAndDegradedAnswersAreNotCached(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		code      int
		wantCalls int
		wantCC    string
	}{
		{"internal", http.StatusInternalServerError, 2, ""},
		{"unavailable", http.StatusServiceUnavailable, 2, ""},
		{"not found, cached for not_found_ttl", http.StatusNotFound, 1, "public, max-age=10"},
		{"degraded", http.StatusOK, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, testConfig())
			const path = "/v1/products/p1-partial"
			if tc.code != http.StatusOK {
				h.backend.setStatus(path, tc.code)
			}
			first := h.do(t, http.MethodGet, path, nil)
			second := h.do(t, http.MethodGet, path, nil)
			if first.code != tc.code || second.code != tc.code {
				t.Fatalf("status %d, %d; want %d", first.code, second.code, tc.code)
			}
			if n := h.backend.callsTo("GET " + path); n != tc.wantCalls {
				t.Errorf("backend calls = %d, want %d", n, tc.wantCalls)
			}
			if cc := second.header.Get("Cache-Control"); cc != tc.wantCC {
				t.Errorf("Cache-Control = %q, want %q", cc, tc.wantCC)
			}
			if second.header.Get("ETag") != "" {
				t.Errorf("an error has ETag %q", second.header.Get("ETag"))
			}
		})
	}
}

func TestWritesInvalidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		write       string
		read        string
		wantFresh   bool
		readHeaders map[string]string
	}{
		{"the written resource", "/v1/users/ada", "/v1/users/ada", true, nil},
		{"the resource through another binding", "/v1/products/p1/stock:adjust", "/v1/catalog/products/p1", true, nil},
		{"the collection", "/v1/products/p1/stock:adjust", "/v1/products", true, nil},
		{"not a sibling", "/v1/products/p1/stock:adjust", "/v1/products/p2", false, nil},
		{"not another user", "/v1/users/ada", "/v1/users/grace", false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, testConfig())
			hdr := map[string]string{"X-Test-User": "ada"}
			before := h.do(t, http.MethodGet, tc.read, hdr)
			method := http.MethodPatch
			if strings.HasSuffix(tc.write, ":adjust") {
				method = http.MethodPost
			}
			if got := h.do(t, method, tc.write, hdr); got.code != http.StatusOK {
				t.Fatalf("write: %d %s", got.code, got.body)
			}
			after := h.do(t, http.MethodGet, tc.read, hdr)
			how := after.header.Get(cache.HeaderDebug)
			if tc.wantFresh && how != "MISS" {
				t.Errorf("read after the write: %s %s, want a fresh MISS", how, after.body)
			}
			if !tc.wantFresh && (how != "HIT" || after.body != before.body) {
				t.Errorf("read after the write: %s %s, want the cached %s", how, after.body, before.body)
			}
		})
	}
}

func TestWriteThenReadIsFresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	hdr := map[string]string{"X-Test-User": "ada"}
	h.do(t, http.MethodGet, "/v1/users/ada", hdr)
	h.do(t, http.MethodPatch, "/v1/users/ada", hdr)
	if got := h.do(t, http.MethodGet, "/v1/users/ada", hdr); !strings.Contains(got.body, `"version":1`) {
		t.Errorf("read after the write got %s, want version 1", got.body)
	}
}

func TestFailedWriteInvalidatesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	hdr := map[string]string{"X-Test-User": "ada"}
	h.do(t, http.MethodGet, "/v1/users/ada", hdr)
	h.backend.setStatus("/v1/users/ada", http.StatusConflict)
	if got := h.do(t, http.MethodPatch, "/v1/users/ada", hdr); got.code != http.StatusConflict {
		t.Fatalf("write: %d, want 409", got.code)
	}
	h.backend.mu.Lock()
	h.backend.status = map[string]int{}
	h.backend.mu.Unlock()
	if got := h.do(t, http.MethodGet, "/v1/users/ada", hdr); got.header.Get(cache.HeaderDebug) != "HIT" {
		t.Errorf("read: %s, want HIT", got.header.Get(cache.HeaderDebug))
	}
	if got := h.metric(t, "invalidations_total"); got != 0 {
		t.Errorf("invalidations = %v, want 0", got)
	}
}

func TestConcurrentMissesMakeOneCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	gate := h.backend.hold()
	const n = 100
	answers := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = h.do(t, http.MethodGet, "/v1/products/p1", nil) })
	}
	waitFor(t, "99 coalesced waits", func() bool { return h.metric(t, "coalesced_total") == n-1 })
	close(gate)
	wg.Wait()
	if calls := h.backend.callsTo("GET /v1/products/p1"); calls != 1 {
		t.Errorf("backend calls = %d, want 1", calls)
	}
	for i, a := range answers {
		if a.code != http.StatusOK || a.body != answers[0].body {
			t.Fatalf("answer %d: %d %s, want %s", i, a.code, a.body, answers[0].body)
		}
	}
}

func TestWaiterGivesUpAtItsDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	gate := h.backend.hold()
	leader := make(chan response, 1)
	go func() { leader <- h.do(t, http.MethodGet, "/v1/products/p1", nil) }()
	waitFor(t, "the leader's call", func() bool { return h.backend.callsTo("GET /v1/products/p1") == 1 })

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/v1/products/p1", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("the waiter got %d, want its own deadline to end it", resp.StatusCode)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the waiter waited %s", waited)
	}
	close(gate)
	if got := <-leader; got.code != http.StatusOK {
		t.Errorf("leader: %d %s", got.code, got.body)
	}
}

func TestNoCacheWithinAllowance(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig())
	noCache := map[string]string{"Cache-Control": "no-cache"}
	h.do(t, http.MethodGet, "/v1/products/p1", nil)
	h.clock.Advance(500 * time.Millisecond)
	for _, tc := range []struct {
		name    string
		advance time.Duration
		header  map[string]string
		want    string
	}{
		{"younger than the minimum age", 0, noCache, "HIT"},
		{"max-age=0", 0, map[string]string{"Cache-Control": "max-age=0"}, "HIT"},
		{"older than the minimum age", time.Second, noCache, "MISS"},
		{"pragma, older again", time.Second, map[string]string{"Pragma": "no-cache"}, "MISS"},
		{"without no-cache", 0, nil, "HIT"},
	} {
		h.clock.Advance(tc.advance)
		if got := h.do(t, http.MethodGet, "/v1/products/p1", tc.header); got.header.Get(cache.HeaderDebug) != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got.header.Get(cache.HeaderDebug), tc.want)
		}
	}
}

func TestStreamsAndDisabledCacheAreNotCached(t *testing.T) {
	t.Parallel()
	off := testConfig()
	off.Enabled = false
	tests := []struct {
		name string
		h    *harness
		path string
	}{
		{"streaming method", newHarness(t, testConfig()), "/v1/orders/o1:watch"},
		{"cache disabled", newHarness(t, off), "/v1/products/p1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for range 2 {
				if got := tc.h.do(t, http.MethodGet, tc.path, map[string]string{"X-Test-User": "ada"}); got.header.Get(cache.HeaderDebug) != "" || got.header.Get("ETag") != "" {
					t.Errorf("answer has cache headers: %v", got.header)
				}
			}
			if n := tc.h.backend.callsTo("GET " + tc.path); n != 2 {
				t.Errorf("backend calls = %d, want 2", n)
			}
		})
	}
}

func TestMemoryStoreEvictsBySize(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxBytes = 4 << 10
	cfg.MaxEntryBytes = 1 << 10
	h := newHarness(t, cfg)
	for i := range 100 {
		h.do(t, http.MethodGet, "/v1/products/p"+strings.Repeat("x", i), nil)
	}
	waitFor(t, "evictions", func() bool { return h.metric(t, "evictions_total") > 0 })
	if b := h.metric(t, "bytes"); b <= 0 || b > float64(cfg.MaxBytes) {
		t.Errorf("bytes = %v, want within (0, %d]", b, cfg.MaxBytes)
	}
}

func TestForwardedHeadersJoinTheKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(), cache.WithForwardedHeaders("x-tenant"))
	// GetProduct is public and shared: only the forwarded header tells the tenants apart.
	for _, tc := range []struct {
		name   string
		header map[string]string
		tenant string
		how    string
	}{
		{"tenant a", map[string]string{"X-Tenant": "a"}, "a", "MISS"},
		{"tenant b", map[string]string{"X-Tenant": "b"}, "b", "MISS"},
		{"tenant a again", map[string]string{"X-Tenant": "a"}, "a", "HIT"},
		{"tenant b again", map[string]string{"X-Tenant": "b"}, "b", "HIT"},
		{"tenant c as metadata", map[string]string{"Grpc-Metadata-X-Tenant": "c"}, "c", "MISS"},
		{"no tenant", nil, "", "MISS"},
		{"tenant c as metadata again", map[string]string{"Grpc-Metadata-X-Tenant": "c"}, "c", "HIT"},
	} {
		got := h.do(t, http.MethodGet, "/v1/products/p1", tc.header)
		if !strings.Contains(got.body, `"tenant":"`+tc.tenant+`"`) || got.header.Get(cache.HeaderDebug) != tc.how {
			t.Errorf("%s: %s %s, want tenant %q's answer (%s)", tc.name, got.header.Get(cache.HeaderDebug), got.body, tc.tenant, tc.how)
		}
		if vary := got.header.Get("Vary"); vary != "Accept, Accept-Language, X-Tenant, Grpc-Metadata-X-Tenant" {
			t.Errorf("%s: Vary = %q, want the forwarded header in both forms", tc.name, vary)
		}
	}
	if n := h.backend.callsTo("GET /v1/products/p1"); n != 4 {
		t.Errorf("backend calls = %d, want 4: one per tenant", n)
	}
}

func TestRepresentationNotAcceptIsTheKey(t *testing.T) {
	t.Parallel()
	json := func(*http.Request) string { return "application/json" }
	h := newHarness(t, testConfig(), cache.WithRepresentation(json))
	for i := range 20 {
		accept := fmt.Sprintf("application/x-made-up-%d", i)
		if got := h.do(t, http.MethodGet, "/v1/products/p1", map[string]string{"Accept": accept}); got.code != http.StatusOK {
			t.Fatalf("Accept %s: %d %s", accept, got.code, got.body)
		}
	}
	if n := h.backend.callsTo("GET /v1/products/p1"); n != 1 {
		t.Errorf("backend calls = %d, want 1: every Accept value names the same representation", n)
	}
}

func TestUncachedCredentialedAnswersAreNotStored(t *testing.T) {
	t.Parallel()
	off := testConfig()
	off.Enabled = false
	ada := map[string]string{"X-Test-User": "ada"}
	tests := []struct {
		name   string
		cfg    config.Cache
		path   string
		status int
		header map[string]string
		want   []string
	}{
		{"authenticated, cached", testConfig(), "/v1/users/ada", 0, ada, []string{"private, max-age=60", "private, max-age=60"}},
		{"authenticated, error", testConfig(), "/v1/users/ada", http.StatusInternalServerError, ada, []string{noStore, noStore}},
		{"authenticated, stream", testConfig(), "/v1/orders/o1:watch", 0, ada, []string{noStore, noStore}},
		{"authenticated, cache off", off, "/v1/users/ada", 0, ada, []string{noStore, noStore}},
		{"public, cached, credentialed caller", testConfig(), "/v1/products/p1", 0, ada, []string{publicCC, publicCC}},
		{"public, cached, anonymous", testConfig(), "/v1/products/p1", 0, nil, []string{publicCC, publicCC}},
		{"public, error, credentialed caller", testConfig(), "/v1/products/p1", http.StatusServiceUnavailable, ada, []string{noStore, noStore}},
		{"public, error, anonymous", testConfig(), "/v1/products/p1", http.StatusServiceUnavailable, nil, []string{"", ""}},
		{"public, cache off, credentialed caller", off, "/v1/products/p1", 0, ada, []string{noStore, noStore}},
		{"public, cache off, anonymous", off, "/v1/products/p1", 0, nil, []string{"", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.cfg)
			if tc.status != 0 {
				h.backend.setStatus(strings.TrimSuffix(tc.path, ":watch"), tc.status)
			}
			for i, want := range tc.want {
				got := h.do(t, http.MethodGet, tc.path, tc.header)
				if cc := got.header.Values("Cache-Control"); strings.Join(cc, ", ") != want || len(cc) > 1 {
					t.Errorf("answer %d (%d %s): Cache-Control %q, want %q", i+1, got.code, got.header.Get(cache.HeaderDebug), cc, want)
				}
			}
		})
	}
}

// Cache-Control values of TestUncachedCredentialedAnswersAreNotStored.
const (
	noStore  = "private, no-store"
	publicCC = "public, max-age=60, stale-while-revalidate=60"
)

func TestSharedCallOutlivesTheFirstCallersDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend()
		gate := b.hold()
		c, err := cache.New(testConfig(), cache.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		chain := c.Middleware(grpcTimeout(b))
		serve := func(p *policy.Policy, path, grpcTimeout string) <-chan *httptest.ResponseRecorder {
			done := make(chan *httptest.ResponseRecorder, 1)
			go func() {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				if grpcTimeout != "" {
					r.Header.Set(edge.HeaderGRPCTimeout, grpcTimeout)
				}
				rec := httptest.NewRecorder()
				chain.ServeHTTP(rec, r.WithContext(policy.NewContext(r.Context(), p)))
				done <- rec
			}()
			return done
		}

		// The first caller gives the call 100ms, and a second caller waits for the same call.
		impatient := serve(getProduct, "/v1/products/p1", "100m")
		synctest.Wait()
		patient := serve(getProduct, "/v1/products/p1", "")
		synctest.Wait()
		if b.callsTo("GET /v1/products/p1") != 1 {
			t.Fatalf("backend calls = %d, want 1 shared call", b.callsTo("GET /v1/products/p1"))
		}
		time.Sleep(time.Second)
		if got := <-impatient; got.Code != http.StatusGatewayTimeout {
			t.Errorf("the impatient caller got %d %s, want 504 at its own deadline", got.Code, got.Body)
		}
		close(gate)
		if got := <-patient; got.Code != http.StatusOK || !strings.Contains(got.Body.String(), `"version":0`) {
			t.Errorf("the patient caller got %d %s, want the shared call's 200", got.Code, got.Body)
		}

		// The shared call ends at the route's timeout, although no caller set a deadline.
		slow := *getProduct
		slow.Timeout = 2 * time.Second
		b.hold()
		start := time.Now()
		if got := <-serve(&slow, "/v1/products/p2", ""); got.Code != http.StatusGatewayTimeout || time.Since(start) != slow.Timeout {
			t.Errorf("the call of a route with a 2s timeout: %d after %s, want 504 after 2s", got.Code, time.Since(start))
		}
	})
}

// grpcTimeout gives the request the deadline its Grpc-Timeout header asks for, as grpc-gateway
// does to the backend call.
func grpcTimeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := edge.ParseGRPCTimeout(r.Header.Get(edge.HeaderGRPCTimeout)); err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

func TestLogKeysSaysWhatEachKeyHolds(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c, err := cache.New(testConfig(), cache.WithForwardedHeaders("X-Tenant"), cache.WithLogger(slog.New(slog.NewJSONHandler(&out, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	users := usersv1.File_storefront_users_v1_users_proto.Services().ByName("UserService")
	table, err := policy.Build([]protoreflect.ServiceDescriptor{users}, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	c.LogKeys(table)
	var records []map[string]any
	for line := range bytes.Lines(out.Bytes()) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		records = append(records, rec)
	}
	// Of the UserService, only GetUser is cached.
	want := map[string]any{
		"level": "INFO", "msg": "cached route", "method": "/storefront.users.v1.UserService/GetUser",
		"per_caller": true, "vary_headers": "", "forwarded_headers_in_key": "X-Tenant, Grpc-Metadata-X-Tenant",
	}
	if len(records) != 1 {
		t.Fatalf("records %v, want one for GetUser", records)
	}
	delete(records[0], "time")
	if !maps.Equal(records[0], want) {
		t.Errorf("record %v, want %v", records[0], want)
	}
}

// TestSharedCallAsksForNoTrailers: the backend's trailers reach a client that sent TE: trailers
// as HTTP trailers. A cached answer is made once and served to every caller, so the shared call
// must not ask for them on its first caller's behalf: no caller of a cached read gets another
// call's trailers.
func TestSharedCallAsksForNoTrailers(t *testing.T) {
	c, err := cache.New(testConfig(), cache.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chain := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Te") == "trailers" {
			w.Header().Set(http.TrailerPrefix+"X-Checksum", "first-callers")
		}
		_, _ = w.Write([]byte(`{"id":"p1"}`))
	}))
	for i, te := range []string{"trailers", ""} {
		r := httptest.NewRequest(http.MethodGet, "/v1/products/p1", nil)
		if te != "" {
			r.Header.Set("Te", te)
		}
		rec := httptest.NewRecorder()
		chain.ServeHTTP(rec, r.WithContext(policy.NewContext(r.Context(), getProduct)))
		if rec.Code != http.StatusOK {
			t.Fatalf("read %d: %d %s", i, rec.Code, rec.Body)
		}
		for k := range rec.Header() {
			if strings.HasPrefix(k, http.TrailerPrefix) || k == "Trailer" {
				t.Errorf("read %d (TE %q) carries %s: a trailer of the shared call", i, te, k)
			}
		}
	}
}
