package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/ipfilter"
	"github.com/archway-gateway/archway/gateway/ratelimit"
	"github.com/archway-gateway/archway/gateway/telemetry"
)

// edgeFunctions are the edge functions built from the configuration, and what they hold open.
type edgeFunctions struct {
	tel *telemetry.Telemetry
	// ownTel says whether New made tel, and so must shut it down.
	ownTel  bool
	ipf     *ipfilter.Filter
	limiter *ratelimit.Limiter
	// redis is the client of the shared store, when rate_limit.store is "redis".
	redis *redis.Client
}

// newEdgeFunctions builds every edge function that cfg configures. Their metrics go to the
// telemetry's registry.
func newEdgeFunctions(ctx context.Context, cfg *config.Config, o *options) (_ *edgeFunctions, err error) {
	e := &edgeFunctions{tel: o.tel}
	defer func() {
		if err != nil {
			_ = e.close()
		}
	}()
	if e.tel == nil {
		if e.tel, err = telemetry.New(ctx, cfg.Telemetry); err != nil {
			return nil, err
		}
		e.ownTel = true
	}
	reg := e.tel.Registerer()
	if e.ipf, err = ipfilter.New(cfg.IPFilter, ipfilter.WithRegisterer(reg)); err != nil {
		return nil, err
	}
	rlOpts := []ratelimit.Option{ratelimit.WithRegisterer(reg), ratelimit.WithLogger(o.logger)}
	if cfg.RateLimit.Store == "redis" {
		e.redis = redis.NewClient(ratelimit.RedisOptions(cfg.Redis))
		rlOpts = append(rlOpts, ratelimit.WithStore(ratelimit.NewRedisStore(e.redis)))
	}
	if e.limiter, err = ratelimit.New(cfg.RateLimit, rlOpts...); err != nil {
		return nil, err
	}
	return e, nil
}

// shutdownTimeout bounds the flush of the trace exporter on Close.
const shutdownTimeout = 5 * time.Second

// close releases what the edge functions hold: the Redis client and, when New made it, the
// telemetry (flushing spans not yet exported).
func (e *edgeFunctions) close() error {
	var errs []error
	if e.redis != nil {
		if err := e.redis.Close(); err != nil {
			errs = append(errs, fmt.Errorf("redis: %w", err))
		}
	}
	if e.ownTel && e.tel != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := e.tel.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: %w", err))
		}
	}
	return errors.Join(errs...)
}
