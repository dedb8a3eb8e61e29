package cache

import "context"

// Store keeps cached responses and the generations of the resource tags they depend on. Its
// methods may be called from several goroutines.
type Store interface {
	// Lookup returns the entry saved under key, or nil when there is none (or it has expired),
	// and the current generation of each of tags, in order. A tag that was never invalidated
	// has a generation too, the same until it is.
	Lookup(ctx context.Context, key string, tags []string) (*Entry, []uint64, error)
	// Save saves e under key, replacing what was there, for e's TTL plus its stale time at
	// most. The store keeps e itself or a copy; either way e must not be modified afterwards.
	Save(ctx context.Context, key string, e *Entry) error
	// Invalidate gives each of tags a new generation, which no entry saved before has
	// recorded.
	Invalidate(ctx context.Context, tags []string) error
}
