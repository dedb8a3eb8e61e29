package config

import "time"

// Redis configures the connection to the Redis server that features
// sharing state between gateway replicas use (rate_limit.store "redis").
// The timeouts are short on purpose: a request waits on Redis at most about
// one of them, so an unreachable server slows requests down by that much
// rather than stalling them.
type Redis struct {
	// Address is the server's host:port. Empty means no server is
	// configured, which is fine while nothing uses Redis. By default "".
	Address string `yaml:"address"`

	// Username authenticates with Redis ACLs (AUTH username password).
	// Empty uses the default user. By default "".
	Username string `yaml:"username"`

	// Password authenticates the connection; empty sends no AUTH. Prefer
	// setting it with ARCHWAY_REDIS_PASSWORD over writing it in the file.
	// By default "".
	Password string `yaml:"password"`

	// DB is the database number selected after connecting. Must not be
	// negative. By default 0.
	DB int `yaml:"db"`

	// DialTimeout bounds establishing a connection. Must be positive. By
	// default 250ms.
	DialTimeout Duration `yaml:"dial_timeout"`

	// ReadTimeout bounds waiting for a reply. Must be positive. By default
	// 250ms.
	ReadTimeout Duration `yaml:"read_timeout"`

	// WriteTimeout bounds sending a command. Must be positive. By default
	// 250ms.
	WriteTimeout Duration `yaml:"write_timeout"`

	// PoolSize is the number of connections kept per gateway; 0 means 10
	// per CPU. Must not be negative. By default 0.
	PoolSize int `yaml:"pool_size"`

	// PoolTimeout bounds waiting for a free connection when all are busy.
	// Must be positive. By default 250ms.
	PoolTimeout Duration `yaml:"pool_timeout"`

	// MaxRetries is how many times a failed command is retried; 0 means
	// none, so a failure is reported at once. Must not be negative. By
	// default 0.
	MaxRetries int `yaml:"max_retries"`
}

// defaultRedis returns the redis defaults.
func defaultRedis() Redis {
	return Redis{
		DialTimeout:  Duration(250 * time.Millisecond),
		ReadTimeout:  Duration(250 * time.Millisecond),
		WriteTimeout: Duration(250 * time.Millisecond),
		PoolTimeout:  Duration(250 * time.Millisecond),
	}
}

// check checks the redis section.
func (r *Redis) check(ch *checker) {
	if r.Address != "" && !validHostPort(r.Address) {
		ch.failf("redis.address", "want host:port with a port from 1 to 65535, like \"127.0.0.1:6379\", got %q", r.Address)
	}
	if r.DB < 0 {
		ch.failf("redis.db", "must not be negative, got %d", r.DB)
	}
	ch.positive("redis.dial_timeout", r.DialTimeout)
	ch.positive("redis.read_timeout", r.ReadTimeout)
	ch.positive("redis.write_timeout", r.WriteTimeout)
	if r.PoolSize < 0 {
		ch.failf("redis.pool_size", "must not be negative, got %d", r.PoolSize)
	}
	ch.positive("redis.pool_timeout", r.PoolTimeout)
	if r.MaxRetries < 0 {
		ch.failf("redis.max_retries", "must not be negative, got %d", r.MaxRetries)
	}
}
