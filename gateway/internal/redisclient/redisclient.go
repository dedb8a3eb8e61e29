// Package redisclient turns the redis section of the configuration into go-redis client options,
// the same way for every edge function that keeps shared state in Redis (rate limiting and the
// response cache), so that one client can serve them all.
package redisclient

import (
	"github.com/redis/go-redis/v9"

	"github.com/archway-gateway/archway/gateway/config"
)

// Options returns the go-redis client options for cfg. Besides the configured values, it makes
// one dial attempt per connection and, unless cfg.MaxRetries says otherwise, no command retries,
// so that a request waits on an unreachable server for about one timeout at most. go-redis
// reconnects by itself once the server is back.
func Options(cfg config.Redis) *redis.Options {
	retries := cfg.MaxRetries
	if retries == 0 {
		retries = -1 // go-redis reads 0 as its default of 3
	}
	return &redis.Options{
		Addr:                  cfg.Address,
		Username:              cfg.Username,
		Password:              cfg.Password,
		DB:                    cfg.DB,
		DialTimeout:           cfg.DialTimeout.D(),
		DialerRetries:         1,
		ReadTimeout:           cfg.ReadTimeout.D(),
		WriteTimeout:          cfg.WriteTimeout.D(),
		ContextTimeoutEnabled: true,
		PoolSize:              cfg.PoolSize,
		PoolTimeout:           cfg.PoolTimeout.D(),
		MaxRetries:            retries,
	}
}
