package edge

import (
	"context"
	"net/http"
	"sync"
)

// State is the per-request state that the links of the chain share with the layers behind them.
// It is created by [Chain] (or [WithState]) and read with [StateFrom].
type State struct {
	requestID string

	mu           sync.Mutex
	route        string
	bodyTooLarge bool
}

type stateKey struct{}

// WithState returns a copy of r whose context carries a fresh State with the given request id.
func WithState(r *http.Request, requestID string) (*http.Request, *State) {
	s := &State{requestID: requestID}
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, s)), s
}

// StateFrom returns the request's State, or nil when the request did not pass through the chain.
func StateFrom(ctx context.Context) *State {
	s, _ := ctx.Value(stateKey{}).(*State)
	return s
}

// RequestIDFrom returns the request id of the request whose context is ctx, or "" when it has none.
func RequestIDFrom(ctx context.Context) string {
	if s := StateFrom(ctx); s != nil {
		return s.requestID
	}
	return ""
}

// RequestID returns the id that identifies the request in logs, responses and backend metadata.
func (s *State) RequestID() string { return s.requestID }

// SetRoute records the route pattern that matched the request, such as "/v1/{name=users/*}".
func (s *State) SetRoute(pattern string) {
	s.mu.Lock()
	s.route = pattern
	s.mu.Unlock()
}

// Route returns the matched route pattern, or "" when no route matched.
func (s *State) Route() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.route
}

func (s *State) markBodyTooLarge() {
	s.mu.Lock()
	s.bodyTooLarge = true
	s.mu.Unlock()
}

// BodyTooLarge reports whether reading the request body hit the body size limit.
func (s *State) BodyTooLarge() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodyTooLarge
}
