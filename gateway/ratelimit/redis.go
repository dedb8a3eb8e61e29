package ratelimit

import (
	"context"
	"fmt"
	"strconv"
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

// RedisStore keeps buckets in Redis, so that every gateway replica using the same server
// shares them. Keys are [RedisKeyPrefix] followed by the bucket's key, and expire once their
// bucket has refilled. It needs Redis 5 or later.
type RedisStore struct {
	client redis.Scripter
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store that keeps its buckets through client: a *redis.Client, or
// a cluster or ring client. The caller owns client and closes it.
func NewRedisStore(client redis.Scripter) *RedisStore {
	return &RedisStore{client: client}
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
