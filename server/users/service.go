package users

import (
	"context"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server/internal/authz"
	"github.com/archway-gateway/archway/server/internal/mask"
	"github.com/archway-gateway/archway/server/internal/page"
	"github.com/archway-gateway/archway/server/internal/rpcerr"
)

// Service is the in-memory UserService. It is safe for concurrent use.
type Service struct {
	usersv1.UnimplementedUserServiceServer

	opts options

	mu      sync.RWMutex
	byName  map[string]*usersv1.User // owned by the store: replaced on change, never changed in place
	byEmail map[string]string        // normalized email → name
}

var _ usersv1.UserServiceServer = (*Service)(nil)

// New returns a Service holding the seed users.
func New(opts ...Option) *Service {
	s := &Service{
		byName:  make(map[string]*usersv1.User),
		byEmail: make(map[string]string),
	}
	s.opts.now = time.Now
	for _, o := range opts {
		o(&s.opts)
	}
	for _, u := range seed() {
		s.byName[u.GetName()] = u
		s.byEmail[normalizeEmail(u.GetEmail())] = u.GetName()
	}
	return s
}

// updatablePaths are the update_mask paths UpdateUser accepts.
var updatablePaths = []string{
	"display_name", "email", "state", "tags",
	"address", "address.street", "address.city", "address.postal_code", "address.country_code",
}

// mutableFields are the fields an empty update mask updates when they are set in the request.
var mutableFields = []string{"display_name", "email", "state", "tags", "address"}

var namePattern = regexp.MustCompile(`^users/[a-z0-9-]{1,64}$`)

// AdminScope lets its holder see and change every user; without it, a caller sees and changes
// only their own user, the one named "users/{subject}".
const AdminScope = "users.admin"

// The routes of the methods, whose access and scopes every call is checked against.
var (
	getRoute    = authz.RouteOf(usersv1.UserService_GetUser_FullMethodName)
	listRoute   = authz.RouteOf(usersv1.UserService_ListUsers_FullMethodName)
	createRoute = authz.RouteOf(usersv1.UserService_CreateUser_FullMethodName)
	updateRoute = authz.RouteOf(usersv1.UserService_UpdateUser_FullMethodName)
	deleteRoute = authz.RouteOf(usersv1.UserService_DeleteUser_FullMethodName)
)

// authorize returns the caller of a call to route; see authz.Authorize.
func (s *Service) authorize(ctx context.Context, route authz.Route) (authz.Caller, error) {
	return authz.Authorize(ctx, route, s.opts.insecureNoIdentity)
}

// GetUser returns the user req names, or NOT_FOUND, also for a user the caller may not see.
func (s *Service) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.User, error) {
	c, err := s.authorize(ctx, getRoute)
	if err != nil {
		return nil, err
	}
	if !c.Sees(req.GetName(), AdminScope) {
		return nil, notFound(req.GetName())
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.byName[req.GetName()]
	if !ok {
		return nil, notFound(req.GetName())
	}
	return proto.CloneOf(u), nil
}

// ListUsers returns one page of the users that the caller may see (every user with AdminScope,
// else only their own) and that match every filter of req, newest first.
func (s *Service) ListUsers(ctx context.Context, req *usersv1.ListUsersRequest) (*usersv1.ListUsersResponse, error) {
	c, err := s.authorize(ctx, listRoute)
	if err != nil {
		return nil, err
	}
	q := page.NewQuery(req)
	after, err := q.After(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	var matched []*usersv1.User
	for _, u := range s.byName {
		if c.Sees(u.GetName(), AdminScope) && matches(u, req) {
			matched = append(matched, u)
		}
	}
	s.mu.RUnlock()

	users, next := page.Slice(matched, sortKey, after, page.Size(req.GetPageSize()))
	resp := &usersv1.ListUsersResponse{TotalSize: int32(len(matched))}
	for _, u := range users {
		resp.Users = append(resp.Users, proto.CloneOf(u))
	}
	if next != "" {
		resp.NextPageToken = q.Token(next)
	}
	return resp, nil
}

// matches reports whether u passes every filter of req. u must not change while it runs.
func matches(u *usersv1.User, req *usersv1.ListUsersRequest) bool {
	if st := req.GetState(); st != usersv1.UserState_USER_STATE_UNSPECIFIED && u.GetState() != st {
		return false
	}
	for _, tag := range req.GetTags() {
		if !slices.Contains(u.GetTags(), tag) {
			return false
		}
	}
	if after := req.GetCreatedAfter(); after != nil && u.GetCreateTime().AsTime().Before(after.AsTime()) {
		return false
	}
	if cc := req.GetCountryCode(); cc != "" && !strings.EqualFold(u.GetAddress().GetCountryCode(), cc) {
		return false
	}
	return true
}

// sortKey orders users newest first, then by name.
func sortKey(u *usersv1.User) string {
	return page.Key(page.DescTime(u.GetCreateTime().AsTime()), u.GetName())
}

// CreateUser stores a new user, ACTIVE unless req sets a state. A caller with AdminScope creates
// any user: the server assigns the name, a slug of the display name plus a random suffix. Any
// other caller creates their own user, named "users/{subject}": FAILED_PRECONDITION when the
// subject cannot be a user id, ALREADY_EXISTS when that user exists. The output-only fields of
// the request are ignored. Returns ALREADY_EXISTS when another user has the email.
func (s *Service) CreateUser(ctx context.Context, req *usersv1.CreateUserRequest) (*usersv1.User, error) {
	c, err := s.authorize(ctx, createRoute)
	if err != nil {
		return nil, err
	}
	own := ""
	if !c.Has(AdminScope) {
		if own = c.User(); own == "" {
			return nil, rpcerr.FailedPrecondition("SUBJECT", "users",
				"the caller's subject is not a user id (1 to 64 of a-z, 0-9 and -), so it cannot have a user")
		}
	}
	u := proto.CloneOf(req.GetUser())
	if u.GetState() == usersv1.UserState_USER_STATE_UNSPECIFIED {
		u.State = usersv1.UserState_USER_STATE_ACTIVE
	}
	now := timestamppb.New(s.opts.now())
	u.CreateTime, u.UpdateTime = now, now

	s.mu.Lock()
	defer s.mu.Unlock()
	email := normalizeEmail(u.GetEmail())
	if _, taken := s.byEmail[email]; taken {
		return nil, status.Errorf(codes.AlreadyExists, "a user with email %q already exists", u.GetEmail())
	}
	switch {
	case own == "":
		u.Name = s.newName(u.GetDisplayName())
	case s.byName[own] != nil:
		return nil, status.Errorf(codes.AlreadyExists, "user %q already exists", own)
	default:
		u.Name = own
	}
	s.byName[u.GetName()] = u
	s.byEmail[email] = u.GetName()
	return proto.CloneOf(u), nil
}

// newName returns an unused resource name for a user called displayName. s.mu must be held.
func (s *Service) newName(displayName string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	base := "users/" + slug(displayName) + "-"
	for {
		suffix := make([]byte, 6)
		for i := range suffix {
			suffix[i] = alphabet[rand.IntN(len(alphabet))]
		}
		if name := base + string(suffix); s.byName[name] == nil {
			return name
		}
	}
}

// slug returns s in lower case with every run of other characters than a-z and 0-9 turned into
// one hyphen, at most 40 characters, or "user" when nothing remains.
func slug(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
		default:
			hyphen = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return "user"
	}
	return out
}

// UpdateUser changes the fields of the user named by req.user.name that req.update_mask lists,
// or, with an empty mask, every mutable field that is set in req.user. The result must satisfy
// the User rules; violations are reported under "user.". Returns NOT_FOUND for an unknown user,
// INVALID_ARGUMENT naming update_mask for a path that is not updatable, and ALREADY_EXISTS when
// the new email belongs to another user. A caller without AdminScope updates only their own user
// (NOT_FOUND for any other) and cannot change its state: a suspended user cannot lift their own
// suspension (PERMISSION_DENIED).
func (s *Service) UpdateUser(ctx context.Context, req *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	c, err := s.authorize(ctx, updateRoute)
	if err != nil {
		return nil, err
	}
	in := req.GetUser()
	if in == nil {
		return nil, rpcerr.InvalidArgument("user is required", rpcerr.Violation("user", "value is required"))
	}
	if !namePattern.MatchString(in.GetName()) {
		return nil, rpcerr.InvalidArgument("invalid user.name",
			rpcerr.Violation("user.name", "must be a user resource name, users/{user_id}"))
	}
	if err := mask.CheckAllowed(req.GetUpdateMask(), updatablePaths, "update_mask"); err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		paths = mask.Populated(in, mutableFields...)
	}
	in = proto.CloneOf(in)

	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byName[in.GetName()]
	if !ok || !c.Sees(in.GetName(), AdminScope) {
		return nil, notFound(in.GetName())
	}
	u := proto.CloneOf(old)
	mask.Copy(u, in, paths)
	if u.GetState() != old.GetState() && !c.Has(AdminScope) {
		return nil, status.Errorf(codes.PermissionDenied, "changing user.state needs the scope %s", AdminScope)
	}
	if u.GetState() == usersv1.UserState_USER_STATE_UNSPECIFIED {
		return nil, rpcerr.InvalidArgument("invalid user.state",
			rpcerr.Violation("user.state", "must be USER_STATE_ACTIVE or USER_STATE_SUSPENDED"))
	}
	if err := rpcerr.FromValidation(protovalidate.Validate(&usersv1.UpdateUserRequest{User: u})); err != nil {
		return nil, err
	}
	oldEmail, newEmail := normalizeEmail(old.GetEmail()), normalizeEmail(u.GetEmail())
	if newEmail != oldEmail {
		if _, taken := s.byEmail[newEmail]; taken {
			return nil, status.Errorf(codes.AlreadyExists, "a user with email %q already exists", u.GetEmail())
		}
		delete(s.byEmail, oldEmail)
		s.byEmail[newEmail] = u.GetName()
	}
	u.UpdateTime = timestamppb.New(s.opts.now())
	s.byName[u.GetName()] = u
	return proto.CloneOf(u), nil
}

// DeleteUser removes the user req names, or returns NOT_FOUND, also for a user the caller may
// not see.
func (s *Service) DeleteUser(ctx context.Context, req *usersv1.DeleteUserRequest) (*emptypb.Empty, error) {
	c, err := s.authorize(ctx, deleteRoute)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byName[req.GetName()]
	if !ok || !c.Sees(req.GetName(), AdminScope) {
		return nil, notFound(req.GetName())
	}
	delete(s.byName, u.GetName())
	delete(s.byEmail, normalizeEmail(u.GetEmail()))
	return &emptypb.Empty{}, nil
}

func notFound(name string) error {
	return status.Errorf(codes.NotFound, "user %q not found", name)
}

// normalizeEmail returns the form of an email address that uniqueness is checked on.
func normalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
