package cache

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the cache's counters.
type metrics struct {
	hits, stale, misses, coalesced, invalidations, storeErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, store Store) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "archway_cache_" + name, Help: help})
	}
	m := &metrics{
		hits:          counter("hits_total", "Reads served from the cache while fresh."),
		stale:         counter("stale_total", "Reads served from the cache while stale, each refreshed in the background."),
		misses:        counter("misses_total", "Reads that called the backend for the cache: one per backend call, however many requests it served."),
		coalesced:     counter("coalesced_total", "Reads that waited for another request's backend call instead of making their own."),
		invalidations: counter("invalidations_total", "Resources invalidated by successful writes."),
		storeErrors:   counter("store_errors_total", "Store operations that failed; a failed lookup sends the read to the backend uncached."),
	}
	if reg == nil {
		return m, nil
	}
	collectors := []prometheus.Collector{m.hits, m.stale, m.misses, m.coalesced, m.invalidations, m.storeErrors}
	if ms, ok := store.(*MemoryStore); ok {
		collectors = append(collectors,
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "archway_cache_evictions_total",
				Help: "Cached responses the memory store dropped to stay within cache.max_bytes.",
			}, func() float64 { return float64(ms.Evictions()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "archway_cache_bytes",
				Help: "Estimated size of the responses the memory store holds.",
			}, func() float64 { return float64(ms.Bytes()) }))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}
