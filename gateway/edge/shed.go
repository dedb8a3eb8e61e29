package edge

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Shedder caps the requests served at once. A request over the cap is answered at once with
// 503 UNAVAILABLE and Retry-After, instead of waiting: under overload, queued requests would
// only time out later, after holding memory and connections, while a prompt 503 lets clients
// and load balancers go elsewhere or back off. Create it with [NewShedder]; it is safe for
// concurrent use.
type Shedder struct {
	limit      int64
	inFlight   atomic.Int64
	retryAfter string
	exempt     map[string]bool
	shed       prometheus.Counter
}

// NewShedder returns a Shedder that serves at most limit requests at once; limit must be
// positive. It fails only when its metrics cannot be registered.
func NewShedder(limit int, opts ...ShedderOption) (*Shedder, error) {
	o := shedderOptions{retryAfterSeconds: 1}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Shedder{
		limit:      int64(limit),
		retryAfter: strconv.Itoa(o.retryAfterSeconds),
		exempt:     make(map[string]bool, len(o.exempt)),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archway_edge_shed_requests_total",
			Help: "Requests answered 503 because the gateway was serving listen.max_in_flight_requests requests already.",
		}),
	}
	for _, p := range o.exempt {
		s.exempt[p] = true
	}
	if o.reg != nil {
		inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "archway_edge_in_flight_requests",
			Help: "Requests the gateway is serving, counted against listen.max_in_flight_requests.",
		}, func() float64 { return float64(s.inFlight.Load()) })
		for _, c := range []prometheus.Collector{s.shed, inFlight} {
			if err := o.reg.Register(c); err != nil {
				return nil, fmt.Errorf("edge.NewShedder: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// ShedStatus is the status of a shed request.
func ShedStatus() *status.Status {
	return status.New(codes.Unavailable, "the gateway is serving too many requests; retry after the delay in Retry-After")
}

// Middleware counts the requests in next and sheds those over the limit.
func (s *Shedder) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.exempt[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if s.inFlight.Add(1) > s.limit {
			s.inFlight.Add(-1)
			s.shed.Inc()
			w.Header().Set("Retry-After", s.retryAfter)
			WriteStatus(w, http.StatusServiceUnavailable, ShedStatus())
			return
		}
		defer s.inFlight.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// InFlight returns the number of requests being served.
func (s *Shedder) InFlight() int { return int(s.inFlight.Load()) }
