package cache

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// MemoryStore keeps cached responses in the gateway process, bounded by their size in bytes
// (an otter cache with a weigher: W-TinyLFU eviction, expiry per entry). Each replica has its own.
//
// Generations are kept in a second, count-bounded table. When it drops a tag to make room, the
// store raises a floor that every tag it no longer knows reports as its generation, so that the
// entries recorded under a forgotten tag stop matching rather than start matching again: a full
// table costs hits, never freshness.
type MemoryStore struct {
	entries *otter.Cache[string, *Entry]
	gens    *otter.Cache[string, uint64]
	// next is the last generation handed out; generations only grow.
	next atomic.Uint64
	// floor is the generation of every tag the table does not hold: the largest it dropped.
	floor     atomic.Uint64
	evictions atomic.Uint64
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns a store that holds up to maxBytes of responses (keys, headers and
// bodies) and the generations of up to maxResources invalidated resource tags. Call Close to
// stop its maintenance goroutine.
func NewMemoryStore(maxBytes int64, maxResources int) (*MemoryStore, error) {
	if maxBytes <= 0 || maxResources <= 0 {
		return nil, fmt.Errorf("cache.NewMemoryStore: maxBytes and maxResources must be positive, got %d and %d", maxBytes, maxResources)
	}
	s := &MemoryStore{}
	var err error
	s.entries, err = otter.New(&otter.Options[string, *Entry]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(k string, e *Entry) uint32 {
			return uint32(min(len(k)+e.size(), math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *Entry]) time.Duration {
			return e.Value.keep()
		}),
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *Entry]) {
			if e.Cause == otter.CauseOverflow {
				s.evictions.Add(1)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cache.NewMemoryStore: %w", err)
	}
	s.gens, err = otter.New(&otter.Options[string, uint64]{
		MaximumSize: maxResources,
		OnAtomicDeletion: func(e otter.DeletionEvent[string, uint64]) {
			if e.Cause != otter.CauseOverflow {
				return
			}
			for {
				f := s.floor.Load()
				if e.Value <= f || s.floor.CompareAndSwap(f, e.Value) {
					return
				}
			}
		},
	})
	if err != nil {
		s.entries.StopAllGoroutines()
		return nil, fmt.Errorf("cache.NewMemoryStore: %w", err)
	}
	return s, nil
}

// Lookup implements [Store]. It never fails.
func (s *MemoryStore) Lookup(_ context.Context, key string, tags []string) (*Entry, []uint64, error) {
	gens := make([]uint64, len(tags))
	floor := s.floor.Load()
	for i, t := range tags {
		g, ok := s.gens.GetIfPresent(t)
		if !ok {
			g = floor
		}
		gens[i] = g
	}
	e, _ := s.entries.GetIfPresent(key)
	return e, gens, nil
}

// Save implements [Store]. It never fails.
func (s *MemoryStore) Save(_ context.Context, key string, e *Entry) error {
	s.entries.Set(key, e)
	return nil
}

// Invalidate implements [Store]. It never fails.
func (s *MemoryStore) Invalidate(_ context.Context, tags []string) error {
	for _, t := range tags {
		s.gens.Set(t, s.next.Add(1))
	}
	return nil
}

// Bytes returns the estimated size of the responses the store holds.
func (s *MemoryStore) Bytes() uint64 { return s.entries.WeightedSize() }

// Evictions returns how many responses the store has dropped to stay within its size.
func (s *MemoryStore) Evictions() uint64 { return s.evictions.Load() }

// Close stops the store's maintenance goroutines. The store must not be used afterwards.
func (s *MemoryStore) Close() {
	s.entries.StopAllGoroutines()
	s.gens.StopAllGoroutines()
}
