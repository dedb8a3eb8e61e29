package gateway

import (
	"context"
	"net/http"

	"github.com/archway-gateway/archway/gateway/backend"
)

// statusz is the admin listener's /statusz: what this gateway replica sees of the world, to
// tell at a glance why one replica behaves differently from the others.
type statusz struct {
	Draining bool             `json:"draining"`
	Backends []backend.Status `json:"backends"`
	Stores   storesStatus     `json:"stores"`
}

// storesStatus says where the shared state lives, and whether the Redis server answers.
type storesStatus struct {
	// RateLimit is rate_limit.store, with rate_limit.on_store_error (fail_open or fail_closed).
	RateLimit    string `json:"rate_limit"`
	OnStoreError string `json:"rate_limit_on_store_error"`
	// Cache is cache.store, or "disabled".
	Cache string `json:"cache"`
	// Redis is present when either store is Redis.
	Redis *redisStatus `json:"redis,omitempty"`
}

type redisStatus struct {
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	// Error is the PING's error when the server did not answer.
	Error string `json:"error,omitempty"`
}

// serveStatusz reports the backends (targets, resolved instances and their states, breakers,
// calls in flight) and the stores. It answers 200 whatever the state: readiness is /readyz's
// job. The Redis server is PINGed, bounded by readiness.check_timeout; no backend connection
// is started.
func (g *Gateway) serveStatusz(w http.ResponseWriter, r *http.Request) {
	st := statusz{
		Draining: g.draining.Load(),
		Backends: g.backends.Status(),
		Stores: storesStatus{
			RateLimit:    g.cfg.RateLimit.Store,
			OnStoreError: g.cfg.RateLimit.OnStoreError,
			Cache:        "disabled",
		},
	}
	if g.cfg.Cache.Enabled {
		st.Stores.Cache = g.cfg.Cache.Store
	}
	if g.edge.redis != nil {
		ctx, cancel := context.WithTimeout(r.Context(), g.checkTimeout())
		defer cancel()
		rs := &redisStatus{Address: g.cfg.Redis.Address, Reachable: true}
		if err := g.edge.redis.Ping(ctx).Err(); err != nil {
			rs.Reachable, rs.Error = false, err.Error()
		}
		st.Stores.Redis = rs
	}
	writeJSON(w, http.StatusOK, st)
}
