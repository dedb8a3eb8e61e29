package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/ratelimit"
)

// BenchmarkMiddleware measures the limiter's cost per request with the memory store: 1000
// clients, each well within a burst so large that every request is allowed and gets the
// headers, and no bucket refills (and so is dropped and made again) during the run.
func BenchmarkMiddleware(b *testing.B) {
	l, err := ratelimit.New(rlConfig(map[string]config.RateLimitClass{"default": class(1000, time.Second, 1<<30)}))
	if err != nil {
		b.Fatal(err)
	}
	h := l.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	reqs := make([]*http.Request, 1000)
	for i := range reqs {
		reqs[i] = newRequest("default", client{id: &edge.Identity{Subject: fmt.Sprint("user", i), Kind: "jwt"}})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := httptest.NewRecorder()
		i := 0
		for pb.Next() {
			clear(w.Header())
			h.ServeHTTP(w, reqs[i%len(reqs)])
			i++
		}
	})
}
