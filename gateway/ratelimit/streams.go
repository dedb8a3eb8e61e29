package ratelimit

import (
	"context"
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

// streamKeyPrefix starts the key of a client's open streams. The '@', which class names
// cannot hold, keeps it apart from the client's bucket of any class.
const streamKeyPrefix = "@streams:"

// streamRetryAfter is the Retry-After of a stream refused because its client has the most
// streams open: streams are long-lived, so one is unlikely to end within a second.
const streamRetryAfter = 5 * time.Second

// StreamStore counts each client's open streams. A [Store] that also implements it, such as
// [RedisStore], counts them for every replica that shares it; otherwise each gateway process
// counts its own. Implementations are safe for concurrent use.
type StreamStore interface {
	// OpenStream counts one more stream of the client named key, unless it has max open
	// already (ok false). The stream counts until done is called. An error means the store
	// could not decide.
	OpenStream(ctx context.Context, key string, max int) (done func(), ok bool, err error)
}

// localStreams is the [StreamStore] of one process. An entry lives while its client has a
// stream open, so the map holds at most as many entries as there are open streams.
type localStreams struct {
	mu   sync.Mutex
	open map[string]int
}

var _ StreamStore = (*localStreams)(nil)

// OpenStream implements [StreamStore]; it never fails.
func (s *localStreams) OpenStream(_ context.Context, key string, maxOpen int) (func(), bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.open[key]
	if n >= maxOpen {
		return nil, false, nil
	}
	s.open[key] = n + 1
	var once sync.Once
	return func() { once.Do(func() { s.give(key) }) }, true, nil
}

func (s *localStreams) give(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.open[key]; n > 1 {
		s.open[key] = n - 1
	} else {
		delete(s.open, key)
	}
}

// streamsRefused is the status of a stream refused because its client has maxPerClient open.
func streamsRefused(maxPerClient int) *status.Status {
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(
		"too many open streams: a client may hold %d streams at once; close one, or retry in %d seconds",
		maxPerClient, streamRetryAfter/time.Second))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(streamRetryAfter)}); err == nil {
		return d
	}
	return st
}

// isStream says whether the route's method streams, so that one request may hold its
// connection to the backend for as long as the client keeps it open: a server stream (NDJSON
// or Server-Sent Events) or a client or bidirectional stream (a WebSocket).
func isStream(p *policy.Policy) bool {
	return p.Descriptor != nil && (p.Descriptor.IsStreamingServer() || p.Descriptor.IsStreamingClient())
}

// limitStreams serves r with next while its client has fewer than the most streams open, and
// answers 429 RESOURCE_EXHAUSTED with Retry-After otherwise. The stream counts until next
// returns, that is until it ends. When the store fails, the stream goes on uncounted (fail
// open) or is answered 503 UNAVAILABLE (fail closed), as for the request rate.
func (l *Limiter) limitStreams(next http.Handler, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	done, ok, err := l.streams.OpenStream(ctx, streamKeyPrefix+clientKey(ctx), l.maxStreams)
	switch {
	case err != nil:
		if ctx.Err() != nil {
			edge.WriteStatus(w, 0, status.New(codes.Canceled, "the request was cancelled"))
			return
		}
		l.storeFailed(ctx, err)
		if l.failClosed {
			w.Header().Set(HeaderRetryAfter, storeErrorRetryAfter)
			edge.WriteStatus(w, 0, status.New(codes.Unavailable,
				"rate limiting is unavailable, so the request was refused; retry in 1 second"))
			return
		}
		next.ServeHTTP(w, r)
	case !ok:
		l.metrics.streamsRefused.Inc()
		w.Header().Set(HeaderRetryAfter, strconv.Itoa(int(streamRetryAfter/time.Second)))
		edge.WriteStatus(w, 0, l.streamsRefused)
	default:
		defer done()
		next.ServeHTTP(w, r)
	}
}
