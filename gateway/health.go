package gateway

import (
	"encoding/json"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/backend"
	"github.com/archway-gateway/archway/gateway/edge"
)

// getOnly answers methods other than GET and HEAD with 405 and an Allow header.
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			edge.WriteStatus(w, http.StatusMethodNotAllowed,
				status.New(codes.Unimplemented, "method "+r.Method+" is not allowed for this path; allowed: GET, HEAD"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveHealthz reports that the process is alive and serving HTTP.
func (g *Gateway) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveReadyz reports whether every backend has an instance that takes calls and the gateway
// is not draining. It calls no backend (see backend.Set.Ready), so a flood of anonymous /readyz
// requests costs the backends nothing. The public answer names no backends; the admin
// listener's /readyz has the detail, decided by the same rule.
func (g *Gateway) serveReadyz(w http.ResponseWriter, r *http.Request) {
	if _, ready := g.ready(r); !ready {
		edge.WriteStatus(w, http.StatusServiceUnavailable, status.New(codes.Unavailable, "not ready"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// readiness is the admin listener's detailed readiness report.
type readiness struct {
	Ready    bool                `json:"ready"`
	Draining bool                `json:"draining"`
	Backends []backend.Readiness `json:"backends"`
}

func (g *Gateway) serveReadyzDetail(w http.ResponseWriter, r *http.Request) {
	backends, ready := g.ready(r)
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, readiness{Ready: ready, Draining: g.draining.Load(), Backends: backends})
}

func (g *Gateway) ready(r *http.Request) ([]backend.Readiness, bool) {
	backends, ok := g.backends.Ready(r.Context(), g.checkTimeout())
	return backends, ok && !g.draining.Load()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
