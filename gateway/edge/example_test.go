package edge_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
)

func ExampleNewCORS() {
	cfg := config.Default().CORS
	cfg.AllowedOrigins = []string{"https://*.example.com"}
	h := edge.NewCORS(cfg).Middleware(http.NotFoundHandler())

	for _, origin := range []string{"https://shop.example.com", "https://evil.test"} {
		req := httptest.NewRequest(http.MethodOptions, "/v1/users/ada", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PATCH")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Printf("%s: %d %q\n", origin, rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	// Output:
	// https://shop.example.com: 204 "https://shop.example.com"
	// https://evil.test: 403 ""
}
