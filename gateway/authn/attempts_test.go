package authn_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/authn"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
)

func TestFailedAttemptsAreLimitedPerAddress(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	// One failure every 30s on average, three at once.
	cfg.FailedAttempts = config.FailedAttempts{Requests: 2, Per: config.Duration(time.Minute), Burst: 3, MaxAddresses: 100}
	var (
		mu sync.Mutex
		at = now
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at
	}
	a, reg := newAuthenticator(t, cfg, authn.WithClock(clock))
	from := func(remote string, p *policy.Policy, header http.Header) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/v1/users/ada", nil)
		r.RemoteAddr = remote
		r.Header = header
		r, _ = edge.WithState(r, "req")
		r = r.WithContext(policy.NewContext(r.Context(), p))
		w := httptest.NewRecorder()
		a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })).ServeHTTP(w, r)
		return w
	}
	badKey := http.Header{"X-Api-Key": {"guess"}}
	goodKey := http.Header{"X-Api-Key": {demoKey}}
	const attacker, neighbour, other = "198.51.100.7:4000", "198.51.100.8:4000", "[2001:db8:1:2::99]:4000"
	for i := range 3 {
		if w := from(attacker, authenticated, badKey); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, w.Code)
		}
	}
	for _, tc := range []struct {
		name   string
		remote string
		p      *policy.Policy
		header http.Header
		want   int
	}{
		// Refused before the credential is checked: even a good key.
		{"good key from the address that failed", attacker, authenticated, goodKey, http.StatusTooManyRequests},
		{"bad token from the address that failed", attacker, authenticated, bearer("abc.def.ghi"), http.StatusTooManyRequests},
		{"no credential from the address that failed", attacker, public, http.Header{}, http.StatusOK},
		{"another address", neighbour, authenticated, goodKey, http.StatusOK},
		{"another address failing", neighbour, authenticated, badKey, http.StatusUnauthorized},
	} {
		w := from(tc.remote, tc.p, tc.header)
		if w.Code != tc.want {
			t.Errorf("%s: status %d, want %d; body %s", tc.name, w.Code, tc.want, w.Body)
		}
		if tc.want != http.StatusTooManyRequests {
			continue
		}
		if ra := w.Header().Get("Retry-After"); ra != "30" {
			t.Errorf("%s: Retry-After %q, want 30", tc.name, ra)
		}
		var st struct {
			Code    int              `json:"code"`
			Message string           `json:"message"`
			Details []map[string]any `json:"details"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Code != 8 || len(st.Details) != 1 ||
			st.Details[0]["@type"] != "type.googleapis.com/google.rpc.RetryInfo" || st.Details[0]["retryDelay"] != "30s" {
			t.Errorf("%s: body %s, want a RESOURCE_EXHAUSTED google.rpc.Status with RetryInfo of 30s", tc.name, w.Body)
		}
	}
	if got := counter(t, reg, "archway_authn_failures_total", "reason", "too_many_failures"); got != 2 {
		t.Errorf("archway_authn_failures_total{reason=too_many_failures} = %v, want 2", got)
	}
	if got := counter(t, reg, "archway_authn_failures_total", "reason", "bad_api_key"); got != 4 {
		t.Errorf("archway_authn_failures_total{reason=bad_api_key} = %v, want 4: refused requests are not checked", got)
	}

	// IPv6 addresses of one /64 share a bucket.
	for i := range 3 {
		from("[2001:db8:1:2::"+string(rune('a'+i))+"]:4000", authenticated, badKey)
	}
	if w := from(other, authenticated, goodKey); w.Code != http.StatusTooManyRequests {
		t.Errorf("another address of the /64: status %d, want 429", w.Code)
	}

	// Once the bucket has room for one more failure, the address may try again.
	mu.Lock()
	at = at.Add(30 * time.Second)
	mu.Unlock()
	if w := from(attacker, authenticated, goodKey); w.Code != http.StatusOK {
		t.Errorf("after Retry-After: status %d, want 200; body %s", w.Code, w.Body)
	}
}
