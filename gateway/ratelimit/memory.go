package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// A MemoryStore splits its buckets into up to maxShards shards, so that concurrent requests
// for different clients rarely wait on the same lock, each holding at least minShardKeys
// buckets (unless the store holds fewer), so that each shard's least recently used bucket is
// a fair stand-in for the store's.
const (
	maxShards    = 64
	minShardKeys = 256
)

// sweepPerCall is how many refilled buckets each Allow call drops, at most, from the least
// recently used end of its shard: enough to keep idle buckets from piling up as traffic flows,
// small enough to keep every call short.
const sweepPerCall = 2

// MemoryStore keeps buckets in the process. It holds at most the number of buckets it was
// made for: a bucket that has refilled is dropped (a full bucket and no bucket are the same),
// and when the cap is reached the least recently used bucket is forgotten, which gives that
// client a full bucket again. A zero MemoryStore is not usable; call [NewMemoryStore].
type MemoryStore struct {
	seed   maphash.Seed
	now    func() time.Time
	epoch  time.Time
	shards []memoryShard
}

var _ Store = (*MemoryStore)(nil)

// memoryShard is one lock's worth of buckets, in a map and a list from most to least recently
// used.
type memoryShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	lru     bucket // sentinel: lru.next is the most recently used bucket, lru.prev the least
	max     int
}

// bucket is one client's bucket in one class.
type bucket struct {
	key        string
	tat        int64 // theoretical arrival time, in nanoseconds since the store's epoch
	prev, next *bucket
}

// NewMemoryStore returns a store that holds at most maxKeys buckets (at least 1).
func NewMemoryStore(maxKeys int, opts ...MemoryOption) *MemoryStore {
	o := memoryOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	maxKeys = max(maxKeys, 1)
	n := 1
	for n*2 <= maxShards && maxKeys/(n*2) >= minShardKeys {
		n *= 2
	}
	s := &MemoryStore{seed: maphash.MakeSeed(), now: o.now, epoch: o.now(), shards: make([]memoryShard, n)}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.buckets = map[string]*bucket{}
		sh.lru.next, sh.lru.prev = &sh.lru, &sh.lru
		sh.max = maxKeys / n
	}
	return s
}

// Allow implements [Store]. It never fails for valid arguments.
func (s *MemoryStore) Allow(_ context.Context, key string, limit Limit, n int) (Result, error) {
	if err := checkRequest(limit, n); err != nil {
		return Result{}, err
	}
	// Time since the epoch, so that a clock with a monotonic reading (time.Now) is immune
	// to changes of the wall clock.
	now := int64(s.now().Sub(s.epoch))
	sh := &s.shards[maphash.String(s.seed, key)%uint64(len(s.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweep(now)
	b := sh.buckets[key]
	var tat int64
	if b != nil {
		tat = b.tat
	}
	newTAT, res := gcra(now, tat, limit, n)
	if b == nil {
		if !res.Allowed {
			return res, nil
		}
		b = sh.add(key)
	}
	b.tat = newTAT
	sh.touch(b)
	return res, nil
}

// Len returns the number of buckets the store holds.
func (s *MemoryStore) Len() int {
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total += len(sh.buckets)
		sh.mu.Unlock()
	}
	return total
}

// sweep drops up to sweepPerCall refilled buckets from the least recently used end.
func (sh *memoryShard) sweep(now int64) {
	for range sweepPerCall {
		b := sh.lru.prev
		if b == &sh.lru || b.tat > now {
			return
		}
		sh.remove(b)
	}
}

// add adds a bucket for key, forgetting the least recently used one when the shard is full.
func (sh *memoryShard) add(key string) *bucket {
	if len(sh.buckets) >= sh.max {
		sh.remove(sh.lru.prev)
	}
	b := &bucket{key: key}
	sh.buckets[key] = b
	b.prev, b.next = &sh.lru, sh.lru.next
	b.prev.next, b.next.prev = b, b
	return b
}

// touch moves b to the most recently used end.
func (sh *memoryShard) touch(b *bucket) {
	if sh.lru.next == b {
		return
	}
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = &sh.lru, sh.lru.next
	b.prev.next, b.next.prev = b, b
}

// remove drops b.
func (sh *memoryShard) remove(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
	delete(sh.buckets, b.key)
}
