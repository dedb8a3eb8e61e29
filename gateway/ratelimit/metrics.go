package ratelimit

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the limiter's counters.
type metrics struct {
	decisions      *prometheus.CounterVec
	storeErrors    prometheus.Counter
	streamsRefused prometheus.Counter
}

// decisionCounters are one class's children of archway_ratelimit_decisions_total, looked up
// once rather than per request.
type decisionCounters struct {
	allowed, limited, failedOpen, failedClosed prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archway_ratelimit_decisions_total",
			Help: "Rate-limit decisions, by class and decision: allowed, limited, failed_open (store error, let through) or failed_closed (store error, refused).",
		}, []string{"class", "decision"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archway_ratelimit_store_errors_total",
			Help: "Rate-limit decisions the store failed to make.",
		}),
		streamsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archway_ratelimit_streams_refused_total",
			Help: "Streams refused because their client had max_streams_per_client open already.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.decisions, m.storeErrors, m.streamsRefused} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) forClass(name string) decisionCounters {
	return decisionCounters{
		allowed:      m.decisions.WithLabelValues(name, "allowed"),
		limited:      m.decisions.WithLabelValues(name, "limited"),
		failedOpen:   m.decisions.WithLabelValues(name, "failed_open"),
		failedClosed: m.decisions.WithLabelValues(name, "failed_closed"),
	}
}
