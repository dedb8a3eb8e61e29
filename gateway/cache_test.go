package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/cache"
	"github.com/archway-gateway/archway/internal/redistest"
)

const getUserMethod = "/storefront.users.v1.UserService/GetUser"

// cacheDebug turns the cache's debug header on.
const cacheDebug = `
cache: {debug_header: true}
`

// twoCallers configures a second API key, "other-key" for client "other", besides testAPIKey.
const twoCallers = `
authn:
  api_keys:
    - client_id: tester
      sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef
      scopes: [users.read, users.write]
    - client_id: other
      sha256: 580843d03d2216ff1a275d0991bad66e4d1af871171d929e9de604b7959f9bca
      scopes: [users.read]
`

func TestCacheServesRepeatedReads(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug, nil)
	first, firstBody := do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
	second, secondBody := do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
	if first.StatusCode != http.StatusOK || second.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %d", first.StatusCode, second.StatusCode)
	}
	if got := []string{first.Header.Get(cache.HeaderDebug), second.Header.Get(cache.HeaderDebug)}; got[0] != "MISS" || got[1] != "HIT" {
		t.Errorf("debug headers %v, want MISS then HIT", got)
	}
	if string(firstBody) != string(secondBody) || first.Header.Get("ETag") == "" || first.Header.Get("ETag") != second.Header.Get("ETag") {
		t.Errorf("the hit differs: %q %s, then %q %s", first.Header.Get("ETag"), firstBody, second.Header.Get("ETag"), secondBody)
	}
	if cc := second.Header.Get("Cache-Control"); cc != "private, max-age=5" {
		t.Errorf("Cache-Control = %q, want private, max-age=5 (GetUser's policy)", cc)
	}
	if vary := second.Header.Get("Vary"); vary != "Accept, Authorization, X-Api-Key" {
		t.Errorf("Vary = %q", vary)
	}
	if second.Header.Get("X-Request-Id") == "" || second.Header.Get("X-Request-Id") == first.Header.Get("X-Request-Id") {
		t.Errorf("the hit's request id %q, want its own", second.Header.Get("X-Request-Id"))
	}
	if n := env.backendCalls(getUserMethod); n != 1 {
		t.Errorf("backend calls = %d, want 1", n)
	}

	// The published documents list the conditional read and its 304 (do checks the answer).
	resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", map[string]string{"If-None-Match": first.Header.Get("ETag")})
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != first.Header.Get("ETag") {
		t.Errorf("conditional read: %d with %d bytes and ETag %q, want 304 without a body", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	if age := resp.Header.Get("Age"); age == "" || resp.Header.Get("Cache-Control") != "private, max-age=5" {
		t.Errorf("conditional read: Age %q, Cache-Control %q; want both, as the documents say", age, resp.Header.Get("Cache-Control"))
	}
}

func TestCacheExpires(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug, nil)
	do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
	// GetUser's TTL is 5s.
	time.Sleep(5100 * time.Millisecond)
	resp, _ := do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
	if how := resp.Header.Get(cache.HeaderDebug); how != "MISS" {
		t.Errorf("read after the TTL: %s, want MISS", how)
	}
	if n := env.backendCalls(getUserMethod); n != 2 {
		t.Errorf("backend calls = %d, want 2", n)
	}
}

func TestCacheKeepsPrivateResponsesPrivate(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug+twoCallers, nil)
	do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
	resp, _ := do(t, http.MethodGet, env.url+"/v1/users/ada", "", map[string]string{"X-Api-Key": "other-key"})
	if how := resp.Header.Get(cache.HeaderDebug); resp.StatusCode != http.StatusOK || how != "MISS" {
		t.Errorf("another caller, same URL: %d %s, want its own MISS", resp.StatusCode, how)
	}
	if n := env.backendCalls(getUserMethod); n != 2 {
		t.Errorf("backend calls = %d, want 2: one per caller", n)
	}
}

func TestCacheDoesNotKeepErrors(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug, nil)
	// A code that the backend client does not retry, so each read is one call.
	env.users.getErr = status.Error(codes.FailedPrecondition, "not yet")
	for range 2 {
		resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if resp.Header.Get("ETag") != "" || resp.Header.Get("Cache-Control") != "" {
			t.Errorf("an error carries cache headers: %v", resp.Header)
		}
	}
	if n := env.backendCalls(getUserMethod); n != 2 {
		t.Errorf("backend calls = %d, want 2", n)
	}
}

func TestCacheWriteThenReadIsFresh(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug, nil)
	if resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("read: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, http.MethodDelete, env.url+"/v1/users/ada", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("read after the delete: %d %s, want 404 from the backend", resp.StatusCode, body)
	}
}

func TestCacheCoalescesConcurrentMisses(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug, nil)
	hold := make(chan struct{})
	env.users.mu.Lock()
	env.users.hold = hold
	env.users.mu.Unlock()
	const n = 100
	statuses := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", nil)
			statuses[i], bodies[i] = resp.StatusCode, string(body)
		})
	}
	admin := httptest.NewServer(env.gw.AdminHandler())
	t.Cleanup(admin.Close)
	for i := 0; ; i++ {
		if coalesced(t, admin.URL) == n-1 {
			break
		}
		if i == 1000 {
			t.Fatalf("%v requests waited for the first one's call, want %d", coalesced(t, admin.URL), n-1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(hold)
	wg.Wait()
	if calls := env.backendCalls(getUserMethod); calls != 1 {
		t.Errorf("backend calls = %d, want 1", calls)
	}
	for i := range n {
		if statuses[i] != http.StatusOK || bodies[i] != bodies[0] {
			t.Fatalf("answer %d: %d %s, want %s", i, statuses[i], bodies[i], bodies[0])
		}
	}
}

var coalescedRE = regexp.MustCompile(`(?m)^archway_cache_coalesced_total (\S+)$`)

// coalesced reads archway_cache_coalesced_total from the admin endpoint.
func coalesced(t *testing.T, adminURL string) float64 {
	t.Helper()
	_, b := get(t, adminURL+"/metrics")
	m := coalescedRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no archway_cache_coalesced_total in the metrics")
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCacheSharedByGatewaysThroughRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	shared := fmt.Sprintf(`
cache: {store: redis, debug_header: true}
redis: {address: %q}
`, srv.Addr())
	a := newTestEnv(t, shared, nil)
	b := newTestEnv(t, shared, nil)

	first, firstBody := do(t, http.MethodGet, a.url+"/v1/users/ada", "", nil)
	fromB, fromBBody := do(t, http.MethodGet, b.url+"/v1/users/ada", "", nil)
	if fromB.Header.Get(cache.HeaderDebug) != "HIT" || string(fromBBody) != string(firstBody) || fromB.Header.Get("ETag") != first.Header.Get("ETag") {
		t.Fatalf("gateway b: %s %s, want gateway a's entry %s", fromB.Header.Get(cache.HeaderDebug), fromBBody, firstBody)
	}
	if n := b.backendCalls(getUserMethod); n != 0 {
		t.Errorf("gateway b's backend got %d calls, want 0", n)
	}

	// A delete through b invalidates what a cached: a reads its backend again.
	if resp, body := do(t, http.MethodDelete, b.url+"/v1/users/ada", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete through b: %d %s", resp.StatusCode, body)
	}
	a.users.mu.Lock()
	a.users.deleted = map[string]bool{"users/ada": true}
	a.users.mu.Unlock()
	if resp, body := do(t, http.MethodGet, a.url+"/v1/users/ada", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("gateway a after b's delete: %d %s, want 404 from its backend", resp.StatusCode, body)
	}
	if n := a.backendCalls(getUserMethod); n != 2 {
		t.Errorf("gateway a's backend got %d calls, want 2", n)
	}
}
