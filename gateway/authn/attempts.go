package authn

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

// attemptShards is how many locks the addresses are spread over, so that concurrent requests
// rarely wait on the same one.
const attemptShards = 16

// attempts limits the failed authentications of each client address, in the process: a token
// bucket per address (GCRA: one time per address), in maps of bounded size.
type attempts struct {
	interval time.Duration // the time an address takes to regain one failure
	burst    int
	seed     maphash.Seed
	shards   [attemptShards]attemptShard
}

// attemptShard is one lock's worth of addresses.
type attemptShard struct {
	mu sync.Mutex
	// tat is each address's theoretical arrival time: its bucket is full once it has passed.
	tat map[netip.Addr]time.Time
	max int
	// nextSweep is when the full buckets may be dropped next, to make room.
	nextSweep time.Time
}

// newAttempts returns the limit cfg describes, or nil when it is off.
func newAttempts(cfg config.FailedAttempts) *attempts {
	if cfg.Requests <= 0 {
		return nil
	}
	l := &attempts{
		interval: max(cfg.Per.D()/time.Duration(cfg.Requests), 1),
		burst:    max(cfg.Burst, 1),
		seed:     maphash.MakeSeed(),
	}
	for i := range l.shards {
		l.shards[i] = attemptShard{tat: make(map[netip.Addr]time.Time), max: max(cfg.MaxAddresses/attemptShards, 1)}
	}
	return l
}

// shard returns the key of addr and its shard. IPv4 addresses are keyed by the address, IPv6
// ones by their /64 prefix, which one host typically owns whole; unknown addresses share the
// zero Addr.
func (l *attempts) shard(addr netip.Addr) (netip.Addr, *attemptShard) {
	addr = addr.Unmap()
	if addr.Is6() {
		addr = netip.PrefixFrom(addr.WithZone(""), 64).Masked().Addr()
	}
	return addr, &l.shards[maphash.Comparable(l.seed, addr)%attemptShards]
}

// wait returns how long the address must wait before it may try to authenticate again; 0
// when it may now.
func (l *attempts) wait(addr netip.Addr, now time.Time) time.Duration {
	key, sh := l.shard(addr)
	sh.mu.Lock()
	tat, ok := sh.tat[key]
	sh.mu.Unlock()
	if !ok {
		return 0
	}
	// One more failure must fit in the bucket: tat+interval-now <= burst*interval.
	return max(tat.Sub(now)-time.Duration(l.burst-1)*l.interval, 0)
}

// fail counts a failed authentication of the address.
func (l *attempts) fail(addr netip.Addr, now time.Time) {
	key, sh := l.shard(addr)
	full := time.Duration(l.burst) * l.interval // the time an empty bucket takes to refill
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, ok := sh.tat[key]
	if !ok && len(sh.tat) >= sh.max {
		sh.evict(now, full)
	}
	if tat.Before(now) {
		tat = now
	}
	// Concurrent requests may all have been let through: the bucket holds burst at most.
	if tat = tat.Add(l.interval); tat.After(now.Add(full)) {
		tat = now.Add(full)
	}
	sh.tat[key] = tat
}

// evict makes room for one address: it drops the addresses whose bucket is full again (at
// most once per refill time, so that a shard full of live buckets is not scanned for each new
// address), and when that freed nothing, an arbitrary one, which then starts afresh.
func (sh *attemptShard) evict(now time.Time, refill time.Duration) {
	if !now.Before(sh.nextSweep) {
		sh.nextSweep = now.Add(refill)
		for k, tat := range sh.tat {
			if !tat.After(now) {
				delete(sh.tat, k)
			}
		}
	}
	if len(sh.tat) < sh.max {
		return
	}
	for k := range sh.tat {
		delete(sh.tat, k)
		return
	}
}
