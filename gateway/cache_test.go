package gateway_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
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
		if resp.Header.Get("ETag") != "" || resp.Header.Get("Cache-Control") != "private, no-store" {
			t.Errorf("an error carries cache headers, or lacks private, no-store: %v", resp.Header)
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

func TestCacheKeysOnForwardedHeaders(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug+`
api: {forward_headers: [X-Tenant]}
policy:
  routes:
    storefront.users.v1.UserService/GetUser: {access: public}
`, nil)
	// GetUser made public: one answer for every caller, but for the tenant header the backend
	// receives.
	for i, tc := range []struct {
		header map[string]string
		how    string
	}{
		{map[string]string{"X-Tenant": "a"}, "MISS"},
		{map[string]string{"X-Tenant": "b"}, "MISS"},
		{map[string]string{"X-Tenant": "a", "X-Api-Key": ""}, "HIT"},
		{map[string]string{"Grpc-Metadata-X-Tenant": "b"}, "MISS"},
		{map[string]string{"X-Tenant": "b"}, "HIT"},
	} {
		resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", tc.header)
		if resp.StatusCode != http.StatusOK || resp.Header.Get(cache.HeaderDebug) != tc.how {
			t.Errorf("read %d (%v): %d %s %s, want %s", i+1, tc.header, resp.StatusCode, resp.Header.Get(cache.HeaderDebug), body, tc.how)
		}
		if vary := resp.Header.Get("Vary"); vary != "Accept, X-Tenant, Grpc-Metadata-X-Tenant" {
			t.Errorf("read %d: Vary = %q, want the forwarded header in both forms", i+1, vary)
		}
		if tc.how == "MISS" {
			if got := env.users.metadata().Get("x-tenant"); len(got) != 1 || got[0] != tc.header["X-Tenant"]+tc.header["Grpc-Metadata-X-Tenant"] {
				t.Errorf("read %d: the backend got x-tenant %q", i+1, got)
			}
		}
	}
	if n := env.backendCalls(getUserMethod); n != 3 {
		t.Errorf("backend calls = %d, want 3: a, b, and b as Grpc-Metadata-X-Tenant", n)
	}
}

func TestCacheKeysOnTheRepresentation(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug, nil)
	accepts := []string{"", "application/json", "*/*", "text/event-stream", "application/x-ndjson", "text/html, */*;q=0.8"}
	for i := range 20 {
		accepts = append(accepts, fmt.Sprintf("application/vnd.buster-%d+json", i))
	}
	for _, accept := range accepts {
		resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", map[string]string{"Accept": accept})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("Accept %q: %d %s %s", accept, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if n := env.backendCalls(getUserMethod); n != 1 {
		t.Errorf("backend calls = %d, want 1: the gateway answers every one of these Accept values in JSON", n)
	}
}

func TestCacheControlAndNoSniff(t *testing.T) {
	t.Parallel()
	const public = `
policy:
  routes:
    storefront.users.v1.UserService/GetUser: {access: public}
`
	anonymous := map[string]string{"X-Api-Key": ""}
	failing := status.Error(codes.FailedPrecondition, "not yet")
	tests := []struct {
		name   string
		extra  string
		path   string
		header map[string]string
		err    error
		want   string
	}{
		{"authenticated, cached", "", "/v1/users/ada", nil, nil, "private, max-age=5"},
		{"authenticated, not cached", "", "/v1/users", nil, nil, "private, no-store"},
		{"authenticated, error", "", "/v1/users/ada", nil, failing, "private, no-store"},
		{"authenticated, cache off", "cache: {enabled: false}", "/v1/users/ada", nil, nil, "private, no-store"},
		{"public, cached, anonymous", public, "/v1/users/ada", anonymous, nil, "public, max-age=5"},
		{"public, cached, credentialed", public, "/v1/users/ada", nil, nil, "public, max-age=5"},
		{"public, error, credentialed", public, "/v1/users/ada", nil, failing, "private, no-store"},
		{"public, error, anonymous", public, "/v1/users/ada", anonymous, failing, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tc.extra, nil)
			env.users.getErr = tc.err
			// The first answer, the second (a hit where cached), and a conditional read.
			for i := range 3 {
				header := maps.Clone(tc.header)
				if i == 2 {
					if header == nil {
						header = map[string]string{}
					}
					header["If-None-Match"] = "*"
				}
				resp, body := do(t, http.MethodGet, env.url+tc.path, "", header)
				if cc := resp.Header.Values("Cache-Control"); strings.Join(cc, " | ") != tc.want {
					t.Errorf("answer %d (%d): Cache-Control %q, want %q; %s", i+1, resp.StatusCode, cc, tc.want, body)
				}
				if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("answer %d (%d): X-Content-Type-Options %q, want nosniff", i+1, resp.StatusCode, got)
				}
				cached := strings.Contains(tc.want, "max-age")
				if i == 2 && cached && (resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") == "" || resp.Header.Get("Age") == "") {
					t.Errorf("conditional read: %d, ETag %q, Age %q; want 304 with both", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Age"))
				}
			}
		})
	}
}

func TestCacheSharedCallIgnoresTheFirstCallersTimeout(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, cacheDebug, nil)
	hold := make(chan struct{})
	env.users.mu.Lock()
	env.users.hold = hold
	env.users.mu.Unlock()
	admin := httptest.NewServer(env.gw.AdminHandler())
	t.Cleanup(admin.Close)

	type answer struct {
		resp reply
		body []byte
	}
	ask := func(header map[string]string) <-chan answer {
		c := make(chan answer, 1)
		go func() {
			resp, body := do(t, http.MethodGet, env.url+"/v1/users/ada", "", header)
			c <- answer{resp, body}
		}()
		return c
	}
	impatient := ask(map[string]string{"Grpc-Timeout": "1S"})
	for env.backendCalls(getUserMethod) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	patient := ask(nil)
	for coalesced(t, admin.URL) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if got := <-impatient; got.resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("the caller with Grpc-Timeout 1S: %d %s, want 504 at its own deadline", got.resp.StatusCode, got.body)
	}
	close(hold)
	if got := <-patient; got.resp.StatusCode != http.StatusOK {
		t.Errorf("the caller waiting for the same call: %d %s, want 200", got.resp.StatusCode, got.body)
	}
	if budget := env.users.budget(); budget < 20*time.Second {
		t.Errorf("the shared call had %s, want the route's timeout (30s), not the first caller's", budget)
	}
	if n := env.backendCalls(getUserMethod); n != 1 {
		t.Errorf("backend calls = %d, want 1", n)
	}
}
