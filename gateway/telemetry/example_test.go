package telemetry_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/telemetry"
)

// Telemetry wraps the edge chain with its middleware, the per-route chain with its route
// middleware, and backend connections with its dial options; the admin listener serves its
// metrics handler.
func Example() {
	tel, err := telemetry.New(context.Background(), config.Default().Telemetry)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()

	perRoute := tel.RouteMiddleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	api := edge.RequestID(tel.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		edge.StateFrom(r.Context()).SetRoute("/v1/{name=users/*}") // as routing does
		perRoute.ServeHTTP(w, r)
	})))
	api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodDelete, "/v1/users/ada", nil))

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "archway_http_requests_") {
			fmt.Println(line)
		}
	}
	// Output:
	// archway_http_requests_in_flight{route="/v1/{name=users/*}"} 0
	// archway_http_requests_total{code="204",method="DELETE",route="/v1/{name=users/*}"} 1
}
