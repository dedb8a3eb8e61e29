package authz

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	policyv1 "github.com/archway-gateway/archway/gen/archway/policy/v1"
	"github.com/archway-gateway/archway/identity"
)

// Route is what the contract declares about who may call a method: its archway.policy.v1.route
// option.
type Route struct {
	public bool
	scopes []string
}

// RouteOf returns the route of fullMethod, a gRPC full method name such as
// ordersv1.OrderService_CancelOrder_FullMethodName. It panics when the method is not in the
// global registry, since that is a mistake in the service's code: call it when the package
// initializes, so that every test finds the mistake.
func RouteOf(fullMethod string) Route {
	name := protoreflect.FullName(strings.Replace(strings.TrimPrefix(fullMethod, "/"), "/", ".", 1))
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	m, ok := d.(protoreflect.MethodDescriptor)
	if err != nil || !ok {
		panic(fmt.Sprintf("authz.RouteOf: no method %q", fullMethod))
	}
	p, _ := proto.GetExtension(m.Options(), policyv1.E_Route).(*policyv1.RoutePolicy)
	return Route{
		public: p.GetAccess() == policyv1.Access_ACCESS_PUBLIC && len(p.GetScopes()) == 0,
		scopes: p.GetScopes(),
	}
}

// Caller is the verified caller of a storefront call.
type Caller struct {
	id identity.Identity
	// everything: the server verifies no identity (the storefront's insecure mode), so every
	// call is served as an administrator's.
	everything bool
}

// Authorize returns the caller of a call to route, whose context is ctx, after checking what
// the route declares, as the gateway does: UNAUTHENTICATED when the call carries no verified
// identity, or an anonymous one and route is not public; PERMISSION_DENIED when the caller lacks
// one of route's scopes. With unverified (a server that verifies no identity), a call without an
// identity is served as an administrator's, holding every scope and seeing everything.
func Authorize(ctx context.Context, route Route, unverified bool) (Caller, error) {
	id, ok := identity.FromContext(ctx)
	switch {
	case !ok && unverified:
		return Caller{everything: true}, nil
	case !ok:
		return Caller{}, status.Error(codes.Unauthenticated, "the call carries no verified caller identity")
	case id.Anonymous() && !route.public:
		return Caller{}, status.Error(codes.Unauthenticated, "this method needs an authenticated caller")
	}
	c := Caller{id: id}
	var missing []string
	for _, sc := range route.scopes {
		if !c.Has(sc) {
			missing = append(missing, sc)
		}
	}
	if len(missing) > 0 {
		return Caller{}, status.Errorf(codes.PermissionDenied, "this call needs the scope %s", strings.Join(missing, " "))
	}
	return c, nil
}

// userID is the pattern of a user id, the last segment of "users/{user_id}".
var userID = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// User returns the resource name of the caller's own user, "users/{subject}", or "" when the
// caller is anonymous or its subject cannot be a user id.
func (c Caller) User() string {
	if !userID.MatchString(c.id.Subject) {
		return ""
	}
	return "users/" + c.id.Subject
}

// Owns reports whether user, a user's resource name, is the caller's own.
func (c Caller) Owns(user string) bool {
	return c.everything || (user != "" && user == c.User())
}

// Has reports whether the caller holds scope.
func (c Caller) Has(scope string) bool {
	return c.everything || slices.Contains(c.id.Scopes, scope)
}

// Sees reports whether the caller may see and act on the resources of user: their own, or
// every user's with adminScope.
func (c Caller) Sees(user, adminScope string) bool {
	return c.Owns(user) || c.Has(adminScope)
}
