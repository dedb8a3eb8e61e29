package users_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/server/internal/servertest"
	"github.com/archway-gateway/archway/server/users"
)

// The callers of the authorization tests: an ordinary user with every non-admin scope, and one
// with none.
var (
	ada       = identity.Identity{Subject: "ada-lovelace", Scopes: []string{"users.read", "users.write"}, Kind: "jwt"}
	scopeless = identity.Identity{Subject: "ada-lovelace", Kind: "jwt"}
)

// TestOtherUsersAreNotFound checks that an ordinary caller cannot read, list, update or delete
// another user, and gets exactly the answer for a user that does not exist.
func TestOtherUsersAreNotFound(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := servertest.As(t.Context(), ada)
	_, missing := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/nobody"})
	servertest.Code(t, missing, codes.NotFound)
	const other = "users/grace-hopper"
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"get", func() error {
			_, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: other})
			return err
		}},
		{"update", func() error {
			_, err := c.UpdateUser(ctx, &usersv1.UpdateUserRequest{
				User:       &usersv1.User{Name: other, DisplayName: "Mallory"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
			})
			return err
		}},
		{"delete", func() error {
			_, err := c.DeleteUser(ctx, &usersv1.DeleteUserRequest{Name: other})
			return err
		}},
	} {
		err := tc.call()
		servertest.Code(t, err, codes.NotFound)
		if want := `user "` + other + `" not found`; status.Convert(err).Message() != want {
			t.Errorf("%s: message %q, want %q, as for a user that does not exist (%q)", tc.name, status.Convert(err).Message(), want, status.Convert(missing).Message())
		}
	}
	u, err := c.GetUser(t.Context(), &usersv1.GetUserRequest{Name: other})
	if err != nil || u.GetDisplayName() != "Grace Hopper" {
		t.Errorf("%s after the refused calls: %v, %v; want it unchanged", other, u, err)
	}
}

func TestOwnUser(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := servertest.As(t.Context(), ada)
	if u, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"}); err != nil || u.GetEmail() != "ada@example.org" {
		t.Errorf("GetUser(own) = %v, %v", u, err)
	}
	list, err := c.ListUsers(ctx, &usersv1.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(list.GetUsers()); len(got) != 1 || got[0] != "users/ada-lovelace" || list.GetTotalSize() != 1 {
		t.Errorf("ListUsers = %v (total %d), want only the caller's own user", got, list.GetTotalSize())
	}
	u, err := c.UpdateUser(ctx, &usersv1.UpdateUserRequest{
		User:       &usersv1.User{Name: "users/ada-lovelace", DisplayName: "Countess of Lovelace"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	if err != nil || u.GetDisplayName() != "Countess of Lovelace" {
		t.Errorf("UpdateUser(own) = %v, %v", u, err)
	}
	_, err = c.UpdateUser(ctx, &usersv1.UpdateUserRequest{
		User:       &usersv1.User{Name: "users/ada-lovelace", State: usersv1.UserState_USER_STATE_SUSPENDED},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state"}},
	})
	servertest.Code(t, err, codes.PermissionDenied)
	if _, err := c.DeleteUser(ctx, &usersv1.DeleteUserRequest{Name: "users/ada-lovelace"}); err != nil {
		t.Errorf("DeleteUser(own) = %v", err)
	}
}

func TestAdminSeesEveryUser(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := servertest.As(t.Context(), identity.Identity{Subject: "support-desk", Scopes: []string{"users.read", "users.write", users.AdminScope}, Kind: "jwt"})
	if u, err := c.GetUser(ctx, &usersv1.GetUserRequest{Name: "users/grace-hopper"}); err != nil || u.GetEmail() != "grace@example.com" {
		t.Errorf("GetUser = %v, %v", u, err)
	}
	if list, err := c.ListUsers(ctx, &usersv1.ListUsersRequest{}); err != nil || list.GetTotalSize() != 12 {
		t.Errorf("ListUsers: total %d, %v; want all 12", list.GetTotalSize(), err)
	}
	u, err := c.UpdateUser(ctx, &usersv1.UpdateUserRequest{
		User:       &usersv1.User{Name: "users/grace-hopper", State: usersv1.UserState_USER_STATE_SUSPENDED},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state"}},
	})
	if err != nil || u.GetState() != usersv1.UserState_USER_STATE_SUSPENDED {
		t.Errorf("UpdateUser(state) = %v, %v", u, err)
	}
}

func TestCallersWithoutAccess(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	own := &usersv1.GetUserRequest{Name: "users/ada-lovelace"}
	_, err := c.GetUser(servertest.As(t.Context(), identity.Identity{}), own)
	servertest.Code(t, err, codes.Unauthenticated)
	// The scope of the route, checked by the service too: the caller may see the user, so the
	// answer is PERMISSION_DENIED.
	_, err = c.UpdateUser(servertest.As(t.Context(), scopeless), &usersv1.UpdateUserRequest{
		User:       &usersv1.User{Name: "users/ada-lovelace", DisplayName: "Ada"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	servertest.Code(t, err, codes.PermissionDenied)
	// A service that got no verified identity at all refuses, unless told the server verifies
	// none.
	_, err = users.New().GetUser(context.Background(), own)
	servertest.Code(t, err, codes.Unauthenticated)
	if _, err := users.New(users.WithInsecureNoIdentity()).GetUser(context.Background(), &usersv1.GetUserRequest{Name: "users/grace-hopper"}); err != nil {
		t.Errorf("GetUser without identity, insecure: %v", err)
	}
}

func TestCreateOwnUser(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	radia := servertest.As(t.Context(), identity.Identity{Subject: "radia-perlman", Scopes: []string{"users.write"}, Kind: "jwt"})
	req := &usersv1.CreateUserRequest{User: &usersv1.User{DisplayName: "Radia Perlman", Email: "radia@example.com"}}
	u, err := c.CreateUser(radia, req)
	if err != nil || u.GetName() != "users/radia-perlman" {
		t.Fatalf("CreateUser = %v, %v; want the caller's own users/radia-perlman", u, err)
	}
	_, err = c.CreateUser(radia, &usersv1.CreateUserRequest{User: &usersv1.User{DisplayName: "Radia", Email: "radia2@example.com"}})
	servertest.Code(t, err, codes.AlreadyExists)
	_, err = c.CreateUser(servertest.As(t.Context(), identity.Identity{Subject: "auth0|5f1c", Scopes: []string{"users.write"}, Kind: "jwt"}), req)
	servertest.Code(t, err, codes.FailedPrecondition)
}
