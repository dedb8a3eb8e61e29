package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
)

// streamRetryAfter is the Retry-After of a stream refused because its client has the most
// streams open: streams are long-lived, so one is unlikely to end within a second.
const streamRetryAfter = 5 * time.Second

// openStreams counts each client's open streams, in the process: every replica counts its
// own. An entry lives while its client has a stream open, so the map holds at most as many
// entries as there are open streams.
type openStreams struct {
	max int
	// refused is the message and RetryInfo of a refusal, built once.
	refused *status.Status

	mu   sync.Mutex
	open map[string]int
}

func newOpenStreams(maxPerClient int) *openStreams {
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(
		"too many open streams: a client may hold %d streams at once; close one, or retry in %d seconds",
		maxPerClient, streamRetryAfter/time.Second))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(streamRetryAfter)}); err == nil {
		st = d
	}
	return &openStreams{max: maxPerClient, refused: st, open: make(map[string]int)}
}

// take counts a stream of client key, and reports false, counting nothing, when the client
// already has the most.
func (s *openStreams) take(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.open[key]
	if n >= s.max {
		return false
	}
	s.open[key] = n + 1
	return true
}

// give forgets a stream that take counted.
func (s *openStreams) give(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.open[key]; n > 1 {
		s.open[key] = n - 1
	} else {
		delete(s.open, key)
	}
}

// isStream says whether the route's method streams, so that one request may hold its
// connection to the backend for as long as the client keeps it open: a server stream (NDJSON
// or Server-Sent Events) or a client or bidirectional stream (a WebSocket).
func isStream(p *policy.Policy) bool {
	return p.Descriptor != nil && (p.Descriptor.IsStreamingServer() || p.Descriptor.IsStreamingClient())
}

// limitStreams serves r with next while its client has fewer than the most streams open, and
// answers 429 RESOURCE_EXHAUSTED with Retry-After otherwise. The stream counts until next
// returns, that is until it ends.
func (l *Limiter) limitStreams(next http.Handler, w http.ResponseWriter, r *http.Request) {
	key := clientKey(r.Context())
	if !l.streams.take(key) {
		l.metrics.streamsRefused.Inc()
		w.Header().Set(HeaderRetryAfter, strconv.Itoa(int(streamRetryAfter/time.Second)))
		edge.WriteStatus(w, 0, l.streams.refused)
		return
	}
	defer l.streams.give(key)
	next.ServeHTTP(w, r)
}
