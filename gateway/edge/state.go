package edge

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"google.golang.org/grpc/codes"
)

// State is the per-request state that the links of the chain share with the layers behind them.
// It is created by [Chain] (or [WithState]) and read with [StateFrom].
type State struct {
	requestID string

	mu           sync.Mutex
	route        string
	bodyTooLarge bool
	overBudget   bool
	clientIP     netip.Addr
	identity     *Identity
	grpcMethod   string
	grpcCode     codes.Code
	grpcCodeSet  bool
	// writes sets the response's write deadlines (LimitWrites); nil without them.
	writes *deadlineWriter
}

// Identity is a verified caller, set by authentication and read by the links after it (rate
// limiting, the access log) and by the metadata sent to backends.
type Identity struct {
	// Subject identifies the caller: a token's "sub" claim, or an API key's client id.
	Subject string
	// ClientID identifies the application calling on the subject's behalf: a token's
	// "client_id" or "azp" claim, or an API key's client id.
	ClientID string
	// Scopes are the scopes the caller holds.
	Scopes []string
	// Kind is how the caller authenticated: "jwt" or "api_key".
	Kind string
	// Issuer is the token's "iss" claim; "" for an API key. A subject is unique only within
	// its issuer (RFC 7519, section 4.1.2).
	Issuer string
}

// Key names the caller for everything that keys by caller (rate-limit buckets, private cache
// entries): its kind, issuer and subject, as "jwt:26:https://login.example.com/ada" (the
// issuer's length in bytes first, so that no issuer and subject can pass for another pair) or
// "api_key:0:demo". The same subject from two issuers, or as a token subject and as an API
// key's client id, makes two callers.
func (id Identity) Key() string {
	return id.Kind + ":" + strconv.Itoa(len(id.Issuer)) + ":" + id.Issuer + id.Subject
}

type stateKey struct{}

// WithState returns a copy of r whose context carries a fresh State with the given request id.
func WithState(r *http.Request, requestID string) (*http.Request, *State) {
	s := &State{requestID: requestID}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		s.clientIP = ap.Addr().Unmap()
	}
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

func (s *State) markBodyOverBudget() {
	s.mu.Lock()
	s.overBudget = true
	s.mu.Unlock()
}

// BodyOverBudget reports whether reading the request body was stopped because the bodies being
// served held the whole [BodyBudget].
func (s *State) BodyOverBudget() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overBudget
}

// SetClientIP records the client's address, as resolved through trusted proxies.
func (s *State) SetClientIP(ip netip.Addr) {
	s.mu.Lock()
	s.clientIP = ip
	s.mu.Unlock()
}

// ClientIP returns the client's address: the peer address of the connection, unless a link of
// the chain resolved it through trusted proxies. It is the zero Addr when neither is known.
func (s *State) ClientIP() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientIP
}

// SetIdentity records the verified caller.
func (s *State) SetIdentity(id Identity) {
	s.mu.Lock()
	s.identity = &id
	s.mu.Unlock()
}

// Identity returns the verified caller, and false when the request is anonymous.
func (s *State) Identity() (Identity, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.identity == nil {
		return Identity{}, false
	}
	return *s.identity, true
}

// SetGRPCMethod records the full name of the gRPC method the request was routed to, as in
// "/storefront.users.v1.UserService/GetUser", for the access log.
func (s *State) SetGRPCMethod(method string) {
	s.mu.Lock()
	s.grpcMethod = method
	s.mu.Unlock()
}

// GRPCMethod returns the gRPC method the request was routed to, or "" when none was.
func (s *State) GRPCMethod() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grpcMethod
}

// SetGRPCCode records the gRPC status code of the answer, for the access log.
func (s *State) SetGRPCCode(c codes.Code) {
	s.mu.Lock()
	s.grpcCode, s.grpcCodeSet = c, true
	s.mu.Unlock()
}

// GRPCCode returns the gRPC status code of the answer, and false when none was recorded.
func (s *State) GRPCCode() (codes.Code, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grpcCode, s.grpcCodeSet
}
