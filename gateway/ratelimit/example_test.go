package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/gateway/ratelimit"
)

func Example() {
	cfg := config.Default().RateLimit
	cfg.Classes = map[string]config.RateLimitClass{
		"search": {Requests: 100, Per: config.Duration(time.Minute), Burst: 2},
	}
	l, err := ratelimit.New(cfg)
	if err != nil {
		panic(err)
	}
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "results")
	}))

	for range 3 {
		// In the gateway, the chain puts the state in the context and routing the policy.
		r, _ := edge.WithState(httptest.NewRequest(http.MethodGet, "/v1/search?q=x", nil), "req-1")
		r = r.WithContext(policy.NewContext(r.Context(), &policy.Policy{RateLimitClass: "search"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d remaining=%s policy=%s retry-after=%q\n", w.Code, w.Header().Get("RateLimit-Remaining"), w.Header().Get("RateLimit-Policy"), w.Header().Get("Retry-After"))
	}
	// Output:
	// 200 remaining=1 policy=100;w=60;burst=2 retry-after=""
	// 200 remaining=0 policy=100;w=60;burst=2 retry-after=""
	// 429 remaining=0 policy=100;w=60;burst=2 retry-after="1"
}
