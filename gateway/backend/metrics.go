package backend

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the backends' gauges and counters, labelled by backend.
type metrics struct {
	breakerState       *prometheus.GaugeVec
	breakerTransitions *prometheus.CounterVec
	inFlight           *prometheus.GaugeVec
	rejected           *prometheus.CounterVec
}

// Reasons of archway_backend_rejected_total.
const (
	reasonBreakerOpen   = "breaker_open"
	reasonInFlightLimit = "in_flight_limit"
	reasonInstanceFull  = "instance_full"
	reasonStreamLimit   = "stream_limit"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "archway_backend_breaker_state",
			Help: "State of the backend's circuit breaker: 0 closed, 1 half-open, 2 open.",
		}, []string{"backend"}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archway_backend_breaker_transitions_total",
			Help: "Changes of state of the backend's circuit breaker, by state left and state entered.",
		}, []string{"backend", "from", "to"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "archway_backend_in_flight",
			Help: "Calls and open streams to the backend.",
		}, []string{"backend"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archway_backend_rejected_total",
			Help: "Calls refused by the gateway before reaching the backend, by reason: breaker_open, in_flight_limit, instance_full (every instance at its max_concurrent_calls) or stream_limit (every instance at its limit of streams).",
		}, []string{"backend", "reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.breakerState, m.breakerTransitions, m.inFlight, m.rejected} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
