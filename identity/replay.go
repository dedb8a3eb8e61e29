package identity

import (
	"hash/maphash"
	"math"
	"sync"
)

// The replay cache is split into shards of at least minShardNonces nonces each, at most
// maxShards, so that concurrent calls rarely wait on the same lock.
const (
	maxShards      = 16
	minShardNonces = 1024
)

// replayCache remembers the nonces of accepted envelopes until they expire, and holds at most
// its size of them: when a shard is full of nonces that have not expired, it refuses more.
type replayCache struct {
	seed   maphash.Seed
	shards []replayShard
}

// replayShard is one lock's worth of nonces.
type replayShard struct {
	mu sync.Mutex
	// seen maps each nonce to when its envelope expires, in Unix nanoseconds.
	seen map[string]int64
	max  int
	// earliest is the earliest expiry in seen (math.MaxInt64 when empty); nextSweep is when
	// the expired nonces are dropped next, full or not.
	earliest, nextSweep int64
}

// newReplayCache returns a cache of at most size nonces (at least 1).
func newReplayCache(size int) *replayCache {
	size = max(size, 1)
	n := 1
	for n < maxShards && size/(n*2) >= minShardNonces {
		n *= 2
	}
	c := &replayCache{seed: maphash.MakeSeed(), shards: make([]replayShard, n)}
	for i := range c.shards {
		// The first shards take the remainder, so that the shards hold size in all.
		per := size / n
		if i < size%n {
			per++
		}
		c.shards[i] = replayShard{seen: make(map[string]int64), max: per, earliest: math.MaxInt64}
	}
	return c
}

// add records nonce, whose envelope expires at exp, at the time now (both Unix nanoseconds). It
// returns ErrReplayed when the nonce is already there, and ErrReplayCacheFull when its shard
// holds as many unexpired nonces as it may.
func (c *replayCache) add(nonce string, exp, now int64) error {
	sh := &c.shards[0]
	if len(c.shards) > 1 {
		sh = &c.shards[maphash.String(c.seed, nonce)&uint64(len(c.shards)-1)]
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now >= sh.nextSweep || (len(sh.seen) >= sh.max && now > sh.earliest) {
		sh.sweep(now, exp)
	}
	if _, dup := sh.seen[nonce]; dup {
		return ErrReplayed
	}
	if len(sh.seen) >= sh.max {
		return ErrReplayCacheFull
	}
	sh.seen[nonce] = exp
	sh.earliest = min(sh.earliest, exp)
	return nil
}

// sweep drops the nonces that expired before now, and plans the next sweep for when the
// envelope being added, which expires at exp, does: about one lifetime of an envelope later,
// so that each nonce is looked at a few times at most.
func (sh *replayShard) sweep(now, exp int64) {
	sh.earliest = math.MaxInt64
	for n, e := range sh.seen {
		if e < now {
			delete(sh.seen, n)
		} else {
			sh.earliest = min(sh.earliest, e)
		}
	}
	sh.nextSweep = max(exp, now+1)
}
