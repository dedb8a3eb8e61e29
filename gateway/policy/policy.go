package policy

import (
	"context"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// NoRateLimit is the rate-limit class that exempts a method from rate limiting.
const NoRateLimit = "none"

// Policy is the edge behaviour of one gRPC method. A Policy from a [Table] is shared by every
// request to the method and must not be modified.
type Policy struct {
	// Method is the gRPC method's full name, as in "/storefront.users.v1.UserService/GetUser".
	Method string
	// Descriptor describes the method: its streaming kinds and its HTTP bindings. Nil only in
	// a Policy made by hand.
	Descriptor protoreflect.MethodDescriptor
	// Authenticated says whether the caller must present valid credentials.
	Authenticated bool
	// Scopes are the scopes the caller must hold, all of them. Methods with scopes are
	// authenticated.
	Scopes []string
	// RateLimitClass names the rate_limit.classes entry the method counts against; "" when the
	// method is not rate limited.
	RateLimitClass string
	// IPFilterClass names the ip_filter.classes entry applied after the global filter; "" when
	// there is none.
	IPFilterClass string
	// Timeout is the deadline of the backend call; 0 when there is none.
	Timeout time.Duration
	// Idempotent says whether the method may be retried.
	Idempotent bool
	// Cache says how successful responses are cached.
	Cache Cache
}

// Cache is a method's cache policy. The zero value caches nothing.
type Cache struct {
	// TTL is how long a response is fresh; 0 when responses are not cached.
	TTL time.Duration
	// StaleWhileRevalidate is how long a stale response may be served while it is refreshed.
	StaleWhileRevalidate time.Duration
	// Shared says whether one cached response serves every caller.
	Shared bool
	// VaryHeaders are the request headers, besides the negotiated representation, that a
	// cached response varies on, in canonical form.
	VaryHeaders []string
	// NotFoundTTL is how long a NOT_FOUND answer is cached; 0 when it is not.
	NotFoundTTL time.Duration
	// Invalidates are the resource name patterns whose cached reads a successful call
	// invalidates.
	Invalidates []string
}

type contextKey struct{}

// NewContext returns a copy of ctx that carries p.
func NewContext(ctx context.Context, p *Policy) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the policy of the route that matched the request whose context is ctx, or
// nil when no route matched (yet): the links of the edge chain that run before routing see nil.
func FromContext(ctx context.Context) *Policy {
	p, _ := ctx.Value(contextKey{}).(*Policy)
	return p
}
