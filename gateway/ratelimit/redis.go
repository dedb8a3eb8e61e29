package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisKeyPrefix starts the name of every key the Redis store writes.
const RedisKeyPrefix = "archway:rl:"

// gcraScript is GCRA in Redis, run atomically. The clock is Redis's own (TIME), so replicas
// whose clocks disagree still share one time line. Times are microseconds; the bucket's key
// holds its theoretical arrival time and expires when the bucket has refilled.
//
// KEYS[1]: the bucket. ARGV: emission interval (µs, may be fractional), burst, n.
// Returns {allowed (0 or 1), remaining, retry after (µs), reset after (µs)}.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + interval * n
local diff = now - (new_tat - interval * burst)
if diff < 0 then
  return {0, 0, math.ceil(-diff), math.ceil(tat - now)}
end
local reset = new_tat - now
redis.call("SET", KEYS[1], string.format("%.0f", new_tat), "PX", math.ceil(reset / 1000))
return {1, math.floor(diff / interval), 0, math.ceil(reset)}
`)

// RedisStore keeps buckets, and counts open streams, in Redis, so that every gateway replica
// using the same server shares them. Keys are [RedisKeyPrefix] followed by the bucket's key,
// and expire once their bucket has refilled. It needs Redis 5 or later.
type RedisStore struct {
	client redis.Scripter
	lease  time.Duration
}

var (
	_ Store       = (*RedisStore)(nil)
	_ StreamStore = (*RedisStore)(nil)
)

// NewRedisStore returns a store that keeps its buckets through client: a *redis.Client, or
// a cluster or ring client. The caller owns client and closes it.
func NewRedisStore(client redis.Scripter, opts ...RedisOption) *RedisStore {
	s := &RedisStore{client: client, lease: 30 * time.Second}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// RedisOption configures [NewRedisStore].
type RedisOption func(*RedisStore)

// WithStreamLease sets how long an open stream stays counted when the replica that opened it
// stops renewing it (it renews every third of the lease while the stream is open), so that the
// streams of a replica that dies stop counting within the lease. By default, 30s.
func WithStreamLease(d time.Duration) RedisOption {
	return func(s *RedisStore) { s.lease = d }
}

// Allow implements [Store]. It fails when Redis cannot be reached in time.
func (s *RedisStore) Allow(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if err := checkRequest(limit, n); err != nil {
		return Result{}, err
	}
	interval := float64(limit.interval()) / float64(time.Microsecond)
	vals, err := gcraScript.Run(ctx, s.client, []string{RedisKeyPrefix + key},
		strconv.FormatFloat(interval, 'f', -1, 64), limit.Burst, n).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(vals) != 4 {
		return Result{}, fmt.Errorf("ratelimit: redis: the script returned %d values, want 4", len(vals))
	}
	return Result{
		Allowed:    vals[0] == 1,
		Remaining:  int(vals[1]),
		RetryAfter: time.Duration(vals[2]) * time.Microsecond,
		ResetAfter: time.Duration(vals[3]) * time.Microsecond,
	}, nil
}

// The open streams of a client are a sorted set: each stream's random id, scored by the end of
// its lease in milliseconds of Redis's clock; the set expires with its last lease.
//
// openStreamScript: KEYS[1]: the set. ARGV: max, id, lease (ms). Returns 1 when the stream
// counts, 0 when the client has max streams whose leases have not ended.
var openStreamScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return 1
`)

// renewStreamScript extends the lease of a stream still counted. KEYS[1]: the set. ARGV: id,
// lease (ms).
var renewStreamScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call("ZADD", KEYS[1], "XX", "CH", now + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
`)

// closeStreamScript stops counting a stream. KEYS[1]: the set. ARGV: id.
var closeStreamScript = redis.NewScript(`return redis.call("ZREM", KEYS[1], ARGV[1])`)

// OpenStream implements [StreamStore]: the stream counts for every replica until done is
// called or, should this replica stop renewing it, its lease ends. It fails when Redis cannot
// be reached in time.
func (s *RedisStore) OpenStream(ctx context.Context, key string, maxOpen int) (func(), bool, error) {
	set := RedisKeyPrefix + key
	id := fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
	lease := strconv.FormatInt(s.lease.Milliseconds(), 10)
	opened, err := openStreamScript.Run(ctx, s.client, []string{set}, maxOpen, id, lease).Int()
	if err != nil {
		return nil, false, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if opened != 1 {
		return nil, false, nil
	}
	bg := context.WithoutCancel(ctx)
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(s.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				// A failed renewal lets the lease run out: the stream stops counting.
				_ = renewStreamScript.Run(bg, s.client, []string{set}, id, lease).Err()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-renewed
			_ = closeStreamScript.Run(bg, s.client, []string{set}, id).Err()
		})
	}, true, nil
}
