package users_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server/internal/servertest"
	"github.com/archway-gateway/archway/server/users"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixedNow is the clock of the services under test.
var fixedNow = time.Date(2026, time.April, 1, 12, 0, 0, 0, time.UTC)

func newClient(t *testing.T) usersv1.UserServiceClient {
	t.Helper()
	svc := users.New(users.WithClock(func() time.Time { return fixedNow }))
	conn := servertest.Dial(t, func(r grpc.ServiceRegistrar) { usersv1.RegisterUserServiceServer(r, svc) })
	return usersv1.NewUserServiceClient(conn)
}

func names(us []*usersv1.User) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.GetName())
	}
	return out
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := t.Context()

	t.Run("found", func(t *testing.T) {
		t.Parallel()
		u, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"})
		if err != nil {
			t.Fatal(err)
		}
		if u.GetEmail() != "ada@example.org" || u.GetAddress().GetCountryCode() != "GB" || u.GetCreateTime() == nil {
			t.Errorf("GetUser = %v", u)
		}
	})
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		_, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/nobody"})
		servertest.Code(t, err, codes.NotFound)
	})
	t.Run("invalid name", func(t *testing.T) {
		t.Parallel()
		_, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "people/Ada"})
		if v := servertest.Violations(t, err); v["name"] == "" {
			t.Errorf("violations = %v, want one on name", v)
		}
	})
}

func TestListUsersPages(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := t.Context()

	var all []string
	var lastCreate time.Time
	req := &usersv1.ListUsersRequest{PageSize: 5}
	for pageNo := 0; ; pageNo++ {
		resp, err := c.ListUsers(ctx, req)
		if err != nil {
			t.Fatalf("page %d: %v", pageNo, err)
		}
		if resp.GetTotalSize() != 12 {
			t.Errorf("page %d: total_size = %d, want 12", pageNo, resp.GetTotalSize())
		}
		for _, u := range resp.GetUsers() {
			if ct := u.GetCreateTime().AsTime(); !lastCreate.IsZero() && ct.After(lastCreate) {
				t.Errorf("%s created %v after its predecessor: not newest first", u.GetName(), ct)
			}
			lastCreate = u.GetCreateTime().AsTime()
		}
		all = append(all, names(resp.GetUsers())...)
		if resp.GetNextPageToken() == "" {
			break
		}
		if pageNo > 5 {
			t.Fatal("too many pages")
		}
		req = &usersv1.ListUsersRequest{PageSize: 5, PageToken: resp.GetNextPageToken()}
	}
	if len(all) != 12 {
		t.Fatalf("listed %d users over all pages, want 12: %v", len(all), all)
	}
	if all[0] != "users/marie-curie" || all[11] != "users/ada-lovelace" {
		t.Errorf("order = %v, want marie-curie first and ada-lovelace last", all)
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != 12 {
		t.Errorf("duplicates across pages: %v", all)
	}

	t.Run("default page size", func(t *testing.T) {
		t.Parallel()
		resp, err := c.ListUsers(ctx, &usersv1.ListUsersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetUsers()) != 12 || resp.GetNextPageToken() != "" {
			t.Errorf("got %d users, token %q; want all 12 and no token", len(resp.GetUsers()), resp.GetNextPageToken())
		}
	})
}

func TestListUsersTokens(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := t.Context()
	first, err := c.ListUsers(ctx, &usersv1.ListUsersRequest{PageSize: 2, Tags: []string{"newsletter"}})
	if err != nil {
		t.Fatal(err)
	}
	token := first.GetNextPageToken()
	if token == "" {
		t.Fatal("no next_page_token")
	}
	tampered := []byte(token)
	tampered[len(tampered)/2] ^= 1

	tests := []struct {
		name    string
		req     *usersv1.ListUsersRequest
		wantErr bool
	}{
		{"same filters", &usersv1.ListUsersRequest{PageSize: 2, Tags: []string{"newsletter"}, PageToken: token}, false},
		{"other page size", &usersv1.ListUsersRequest{PageSize: 50, Tags: []string{"newsletter"}, PageToken: token}, false},
		{"other filters", &usersv1.ListUsersRequest{PageSize: 2, Tags: []string{"vip"}, PageToken: token}, true},
		{"no filters", &usersv1.ListUsersRequest{PageSize: 2, PageToken: token}, true},
		{"tampered", &usersv1.ListUsersRequest{PageSize: 2, Tags: []string{"newsletter"}, PageToken: string(tampered)}, true},
		{"garbage", &usersv1.ListUsersRequest{PageToken: "not a token!"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.ListUsers(ctx, tt.req)
			if tt.wantErr {
				if v := servertest.Violations(t, err); v["page_token"] == "" {
					t.Errorf("violations = %v, want one on page_token", v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(resp.GetUsers()); slices.ContainsFunc(got, func(n string) bool { return slices.Contains(names(first.GetUsers()), n) }) {
				t.Errorf("second page %v repeats the first %v", got, names(first.GetUsers()))
			}
		})
	}
}

func TestListUsersFilters(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	seedTime := time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		req  *usersv1.ListUsersRequest
		want []string
	}{
		{"suspended", &usersv1.ListUsersRequest{State: usersv1.UserState_USER_STATE_SUSPENDED},
			[]string{"users/emmy-noether", "users/tim-berners-lee"}},
		{"all tags must match", &usersv1.ListUsersRequest{Tags: []string{"vip", "newsletter"}},
			[]string{"users/hedy-lamarr", "users/ada-lovelace"}},
		{"country", &usersv1.ListUsersRequest{CountryCode: "DE"},
			[]string{"users/emmy-noether", "users/konrad-zuse"}},
		{"created after", &usersv1.ListUsersRequest{CreatedAfter: timestamppb.New(seedTime.AddDate(0, 0, -28))},
			[]string{"users/marie-curie", "users/emmy-noether", "users/konrad-zuse"}},
		{"combined", &usersv1.ListUsersRequest{State: usersv1.UserState_USER_STATE_ACTIVE, CountryCode: "us", Tags: []string{"vip"}},
			[]string{"users/margaret-hamilton", "users/grace-hopper"}},
		{"nothing", &usersv1.ListUsersRequest{Tags: []string{"no-such-tag"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.ListUsers(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(resp.GetUsers()); !slices.Equal(got, tt.want) {
				t.Errorf("users = %v, want %v", got, tt.want)
			}
			if int(resp.GetTotalSize()) != len(tt.want) {
				t.Errorf("total_size = %d, want %d", resp.GetTotalSize(), len(tt.want))
			}
		})
	}
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := t.Context()

	in := &usersv1.User{
		Name:        "users/chosen-by-client",
		DisplayName: "Grace Brewster Murray!",
		Email:       "gbm@example.com",
		Tags:        []string{"new"},
		Address:     &usersv1.Address{City: "New York", CountryCode: "US"},
		CreateTime:  timestamppb.New(time.Unix(0, 0)),
	}
	u, err := c.CreateUser(ctx, &usersv1.CreateUserRequest{User: in})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.GetName(), "users/grace-brewster-murray-") || len(u.GetName()) != len("users/grace-brewster-murray-")+6 {
		t.Errorf("name = %q, want users/grace-brewster-murray-<6 chars>", u.GetName())
	}
	if u.GetState() != usersv1.UserState_USER_STATE_ACTIVE {
		t.Errorf("state = %v, want ACTIVE", u.GetState())
	}
	if !u.GetCreateTime().AsTime().Equal(fixedNow) || !u.GetUpdateTime().AsTime().Equal(fixedNow) {
		t.Errorf("times = %v, %v; want the clock's %v", u.GetCreateTime(), u.GetUpdateTime(), fixedNow)
	}
	got, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: u.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(u, got) {
		t.Errorf("GetUser after CreateUser = %v, want %v", got, u)
	}
	list, err := c.ListUsers(ctx, &usersv1.ListUsersRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if names(list.GetUsers())[0] != u.GetName() || list.GetTotalSize() != 13 {
		t.Errorf("ListUsers = %v (total %d), want the new user first of 13", names(list.GetUsers()), list.GetTotalSize())
	}

	tests := []struct {
		name       string
		user       *usersv1.User
		code       codes.Code
		violations []string
	}{
		{"duplicate email, other case", &usersv1.User{DisplayName: "Ada Again", Email: "ADA@example.org"}, codes.AlreadyExists, nil},
		{"suspended on creation", &usersv1.User{DisplayName: "Quiet", Email: "quiet@example.com", State: usersv1.UserState_USER_STATE_SUSPENDED}, codes.OK, nil},
		{"invalid fields", &usersv1.User{Email: "not-an-email", Address: &usersv1.Address{CountryCode: "germany"}}, codes.InvalidArgument,
			[]string{"user.address.country_code", "user.display_name", "user.email"}},
		{"too many tags", &usersv1.User{DisplayName: "Tagged", Email: "tags@example.com", Tags: make([]string, 21)}, codes.InvalidArgument,
			[]string{"user.tags"}},
		{"missing user", nil, codes.InvalidArgument, []string{"user"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.CreateUser(ctx, &usersv1.CreateUserRequest{User: tt.user})
			servertest.Code(t, err, tt.code)
			if tt.violations == nil {
				return
			}
			v := servertest.Violations(t, err)
			for _, f := range tt.violations {
				if v[f] == "" {
					t.Errorf("violations = %v, want one on %s", v, f)
				}
			}
		})
	}
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		user       *usersv1.User
		paths      []string
		code       codes.Code
		violations []string
		check      func(t *testing.T, u *usersv1.User)
	}{
		{
			name:  "partial user, one path",
			user:  &usersv1.User{Name: "users/ada-lovelace", DisplayName: "Countess Lovelace"},
			paths: []string{"display_name"},
			check: func(t *testing.T, u *usersv1.User) {
				if u.GetDisplayName() != "Countess Lovelace" || u.GetEmail() != "ada@example.org" || len(u.GetTags()) != 2 {
					t.Errorf("user = %v, want only display_name changed", u)
				}
			},
		},
		{
			name:  "nested path",
			user:  &usersv1.User{Name: "users/ada-lovelace", Address: &usersv1.Address{City: "Marylebone", Street: "ignored"}},
			paths: []string{"address.city"},
			check: func(t *testing.T, u *usersv1.User) {
				if u.GetAddress().GetCity() != "Marylebone" || u.GetAddress().GetStreet() != "12 St James's Square" {
					t.Errorf("address = %v, want only city changed", u.GetAddress())
				}
			},
		},
		{
			name:  "masked but unset clears",
			user:  &usersv1.User{Name: "users/ada-lovelace"},
			paths: []string{"tags", "address"},
			check: func(t *testing.T, u *usersv1.User) {
				if len(u.GetTags()) != 0 || u.GetAddress() != nil {
					t.Errorf("user = %v, want tags and address cleared", u)
				}
			},
		},
		{
			name: "empty mask updates set fields",
			user: &usersv1.User{Name: "users/ada-lovelace", Email: "ada@lovelace.example", State: usersv1.UserState_USER_STATE_SUSPENDED},
			check: func(t *testing.T, u *usersv1.User) {
				if u.GetEmail() != "ada@lovelace.example" || u.GetState() != usersv1.UserState_USER_STATE_SUSPENDED ||
					u.GetDisplayName() != "Ada Lovelace" || u.GetAddress().GetCity() != "London" {
					t.Errorf("user = %v, want email and state changed, the rest kept", u)
				}
				if !u.GetUpdateTime().AsTime().Equal(fixedNow) || u.GetCreateTime().AsTime().Equal(fixedNow) {
					t.Errorf("times = %v, %v; want only update_time from the clock", u.GetCreateTime(), u.GetUpdateTime())
				}
			},
		},
		{name: "unknown path", user: &usersv1.User{Name: "users/ada-lovelace"}, paths: []string{"nickname"},
			code: codes.InvalidArgument, violations: []string{"update_mask"}},
		{name: "immutable path", user: &usersv1.User{Name: "users/ada-lovelace"}, paths: []string{"create_time"},
			code: codes.InvalidArgument, violations: []string{"update_mask"}},
		{name: "invalid result", user: &usersv1.User{Name: "users/ada-lovelace", Email: "nope"}, paths: []string{"email"},
			code: codes.InvalidArgument, violations: []string{"user.email"}},
		{name: "masked empty required field", user: &usersv1.User{Name: "users/ada-lovelace"}, paths: []string{"display_name"},
			code: codes.InvalidArgument, violations: []string{"user.display_name"}},
		{name: "unspecified state", user: &usersv1.User{Name: "users/ada-lovelace"}, paths: []string{"state"},
			code: codes.InvalidArgument, violations: []string{"user.state"}},
		{name: "bad name", user: &usersv1.User{Name: "ada", DisplayName: "Ada"}, paths: []string{"display_name"},
			code: codes.InvalidArgument, violations: []string{"user.name"}},
		{name: "missing user", code: codes.InvalidArgument, violations: []string{"user"}},
		{name: "email taken", user: &usersv1.User{Name: "users/ada-lovelace", Email: "Grace@example.com"}, paths: []string{"email"},
			code: codes.AlreadyExists},
		{name: "not found", user: &usersv1.User{Name: "users/nobody", DisplayName: "x"}, code: codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			req := &usersv1.UpdateUserRequest{User: tt.user}
			if tt.paths != nil {
				req.UpdateMask = &fieldmaskpb.FieldMask{Paths: tt.paths}
			}
			u, err := c.UpdateUser(t.Context(), req)
			servertest.Code(t, err, tt.code)
			if tt.violations != nil {
				v := servertest.Violations(t, err)
				for _, f := range tt.violations {
					if v[f] == "" {
						t.Errorf("violations = %v, want one on %s", v, f)
					}
				}
			}
			if tt.check == nil {
				return
			}
			tt.check(t, u)
			got, err := c.GetUser(t.Context(), &usersv1.GetUserRequest{Name: u.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, u) {
				t.Errorf("stored %v, returned %v", got, u)
			}
		})
	}

	t.Run("email change frees the old one", func(t *testing.T) {
		t.Parallel()
		c := newClient(t)
		ctx := t.Context()
		_, err := c.UpdateUser(ctx, &usersv1.UpdateUserRequest{
			User:       &usersv1.User{Name: "users/ada-lovelace", Email: "ada@new.example"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"email"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateUser(ctx, &usersv1.CreateUserRequest{User: &usersv1.User{DisplayName: "Other Ada", Email: "ada@example.org"}}); err != nil {
			t.Errorf("CreateUser with the freed email: %v", err)
		}
		_, err = c.CreateUser(ctx, &usersv1.CreateUserRequest{User: &usersv1.User{DisplayName: "Third Ada", Email: "ada@new.example"}})
		servertest.Code(t, err, codes.AlreadyExists)
	})
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := t.Context()
	if _, err := c.DeleteUser(ctx, &usersv1.DeleteUserRequest{Name: "users/alan-turing"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/alan-turing"})
	servertest.Code(t, err, codes.NotFound)
	_, err = c.DeleteUser(ctx, &usersv1.DeleteUserRequest{Name: "users/alan-turing"})
	servertest.Code(t, err, codes.NotFound)
	if _, err := c.CreateUser(ctx, &usersv1.CreateUserRequest{User: &usersv1.User{DisplayName: "Alan", Email: "alan.turing@example.org"}}); err != nil {
		t.Errorf("CreateUser with the deleted user's email: %v", err)
	}
}

func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := t.Context()
	const emails, tries = 10, 5
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created = map[string]int{}
	)
	for i := range emails * tries {
		wg.Go(func() {
			email := fmt.Sprintf("racer%d@example.com", i%emails)
			_, err := c.CreateUser(ctx, &usersv1.CreateUserRequest{User: &usersv1.User{DisplayName: "Racer", Email: email}})
			switch status.Code(err) {
			case codes.OK:
				mu.Lock()
				created[email]++
				mu.Unlock()
			case codes.AlreadyExists:
			default:
				t.Errorf("CreateUser: %v", err)
			}
		})
	}
	wg.Wait()
	for email, n := range created {
		if n != 1 {
			t.Errorf("%s created %d times", email, n)
		}
	}
	resp, err := c.ListUsers(ctx, &usersv1.ListUsersRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != emails || resp.GetTotalSize() != 12+emails {
		t.Errorf("created %d distinct users, total %d; want %d and %d", len(created), resp.GetTotalSize(), emails, 12+emails)
	}
}
