package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisKeyPrefix starts the name of every key the Redis store writes: RedisKeyPrefix+"e:" and
// the SHA-256 of the cache key for entries, RedisKeyPrefix+"g:" and the tag for generations.
const RedisKeyPrefix = "archway:cache:"

// RedisStore keeps cached responses and generations in Redis, so that every gateway replica
// using the same server serves the entries the others saved and honours the invalidations the
// others made. A lookup is one MGET of the entry and its tags' generations; an invalidation
// sets each tag's generation to a new random number. Every key is read in one command, so the
// store needs one Redis server (with replicas if wanted), not Redis Cluster.
//
// A generation is kept for the store's retention after the last write to its tag, and an entry
// at most half of it: a generation that expires reads as absent again, and no entry recorded
// while it was absent can still be there.
type RedisStore struct {
	client    redis.Cmdable
	retention time.Duration
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store that keeps its entries through client: a *redis.Client, or any
// client of one server. retention is how long a generation is kept (the configuration's
// redis_invalidation_retention). The caller owns client and closes it.
func NewRedisStore(client redis.Cmdable, retention time.Duration) *RedisStore {
	return &RedisStore{client: client, retention: retention}
}

func entryKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return RedisKeyPrefix + "e:" + hex.EncodeToString(sum[:])
}

// Lookup implements [Store]. It fails when Redis cannot be reached in time. An entry that does
// not decode is reported as absent.
func (s *RedisStore) Lookup(ctx context.Context, key string, tags []string) (*Entry, []uint64, error) {
	keys := make([]string, 0, 1+len(tags))
	keys = append(keys, entryKey(key))
	for _, t := range tags {
		keys = append(keys, RedisKeyPrefix+"g:"+t)
	}
	vals, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("cache: redis: %w", err)
	}
	if len(vals) != len(keys) {
		return nil, nil, fmt.Errorf("cache: redis: MGET returned %d values for %d keys", len(vals), len(keys))
	}
	gens := make([]uint64, len(tags))
	for i, v := range vals[1:] {
		if str, ok := v.(string); ok {
			// A value this store did not write reads as a generation no entry has.
			g, err := strconv.ParseUint(str, 10, 64)
			if err != nil {
				g = 0
			}
			gens[i] = g
		}
	}
	raw, ok := vals[0].(string)
	if !ok {
		return nil, gens, nil
	}
	e := new(Entry)
	if err := e.UnmarshalBinary([]byte(raw)); err != nil {
		return nil, gens, nil
	}
	return e, gens, nil
}

// Save implements [Store]. It fails when Redis cannot be reached in time.
func (s *RedisStore) Save(ctx context.Context, key string, e *Entry) error {
	data, err := e.MarshalBinary()
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	ttl := min(e.keep(), s.retention/2)
	if ttl <= 0 {
		return errors.New("cache: an entry needs a positive TTL")
	}
	if err := s.client.Set(ctx, entryKey(key), data, ttl).Err(); err != nil {
		return fmt.Errorf("cache: redis: %w", err)
	}
	return nil
}

// Invalidate implements [Store]. It fails when Redis cannot be reached in time.
func (s *RedisStore) Invalidate(ctx context.Context, tags []string) error {
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range tags {
			// Random rather than counted, so that a generation that expired and was set
			// again cannot come back to a value an entry recorded. Never 0, the absent value.
			p.Set(ctx, RedisKeyPrefix+"g:"+t, strconv.FormatUint(rand.Uint64()|1, 10), s.retention)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: redis: %w", err)
	}
	return nil
}
