package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/archway-gateway/archway/gateway/authn"
	"github.com/archway-gateway/archway/gateway/cache"
	"github.com/archway-gateway/archway/gateway/composite"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/internal/redisclient"
	"github.com/archway-gateway/archway/gateway/ipfilter"
	"github.com/archway-gateway/archway/gateway/ratelimit"
	"github.com/archway-gateway/archway/gateway/telemetry"
	"github.com/archway-gateway/archway/identity"
)

// edgeFunctions are the edge functions built from the configuration, and what they hold open.
type edgeFunctions struct {
	tel *telemetry.Telemetry
	// ownTel says whether New made tel, and so must shut it down.
	ownTel bool
	ipf    *ipfilter.Filter
	authn  *authn.Authenticator
	// signer signs the caller's identity onto every backend call; nil when
	// authn.identity_secret is not set.
	signer  *identity.Signer
	limiter *ratelimit.Limiter
	cache   *cache.Cache
	// redis is the client of the shared store, when rate_limit.store or cache.store is
	// "redis": one client for both.
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
	if e.authn, err = authn.New(ctx, cfg.Authn, authn.WithRegisterer(reg), authn.WithLogger(o.logger)); err != nil {
		return nil, err
	}
	if secret := cfg.Authn.IdentitySecret; secret != "" {
		if e.signer, err = identity.NewSigner(secret); err != nil {
			return nil, err
		}
	} else {
		o.logger.Warn("authn.identity_secret is not set: backend calls carry no signed identity, so backends that check it refuse them")
	}
	cacheRedis := cfg.Cache.Enabled && cfg.Cache.Store == "redis"
	if cfg.RateLimit.Store == "redis" || cacheRedis {
		e.redis = redis.NewClient(redisclient.Options(cfg.Redis))
	}
	rlOpts := []ratelimit.Option{ratelimit.WithRegisterer(reg), ratelimit.WithLogger(o.logger)}
	if cfg.RateLimit.Store == "redis" {
		rlOpts = append(rlOpts, ratelimit.WithStore(ratelimit.NewRedisStore(e.redis)))
	}
	if e.limiter, err = ratelimit.New(cfg.RateLimit, rlOpts...); err != nil {
		return nil, err
	}
	cacheOpts := []cache.Option{cache.WithRegisterer(reg), cache.WithLogger(o.logger),
		cache.WithCredentialHeaders("Authorization", cfg.Authn.APIKeyHeader),
		cache.WithForwardedHeaders(cfg.API.ForwardHeaders...),
		cache.WithRepresentation(representation()),
		cache.WithDegradedHeaders(composite.PartialHeader)}
	if cacheRedis {
		cacheOpts = append(cacheOpts, cache.WithStore(cache.NewRedisStore(e.redis, cfg.Cache.RedisInvalidationRetention.D())))
	}
	if e.cache, err = cache.New(cfg.Cache, cacheOpts...); err != nil {
		return nil, err
	}
	return e, nil
}

// dialOptions are the options the edge functions need on every backend ClientConn: metrics and
// trace propagation, and the signed identity of the caller.
func (e *edgeFunctions) dialOptions() []grpc.DialOption {
	opts := e.tel.DialOptions()
	if e.signer != nil {
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(authn.UnaryClientInterceptor(e.signer)),
			grpc.WithChainStreamInterceptor(authn.StreamClientInterceptor(e.signer)))
	}
	return opts
}

// shutdownTimeout bounds the flush of the trace exporter on Close.
const shutdownTimeout = 5 * time.Second

// close releases what the edge functions hold: the cache's background calls and memory store,
// the Redis client and, when New made it, the telemetry (flushing spans not yet exported).
func (e *edgeFunctions) close() error {
	var errs []error
	if e.cache != nil {
		e.cache.Close()
	}
	if e.authn != nil {
		if err := e.authn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("authn: %w", err))
		}
	}
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
