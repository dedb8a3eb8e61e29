package validation_test

import (
	"context"
	"net"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server/validation"
)

// echoUsers is a team's UserService that trusts the validation link: it validates nothing
// itself and echoes the user it was sent.
type echoUsers struct {
	usersv1.UnimplementedUserServiceServer
}

func (echoUsers) UpdateUser(_ context.Context, req *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	return req.GetUser(), nil
}

func (echoUsers) CreateUser(_ context.Context, req *usersv1.CreateUserRequest) (*usersv1.User, error) {
	return req.GetUser(), nil
}

// newUsersClient serves echoUsers on a loopback listener behind the validation link alone, as a
// team's backend would chain it, and returns a client of it.
func newUsersClient(t *testing.T) usersv1.UserServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(validation.UnaryServerInterceptor(nil)),
		grpc.ChainStreamInterceptor(validation.StreamServerInterceptor(nil)),
	)
	usersv1.RegisterUserServiceServer(srv, echoUsers{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return usersv1.NewUserServiceClient(conn)
}

// TestMaskedUpdateValidatesOnlyMaskedFields sends partial updates of a User, whose display_name
// and email are required: only the fields the mask names are checked, and a violation names the
// field by its full path in the request.
func TestMaskedUpdateValidatesOnlyMaskedFields(t *testing.T) {
	t.Parallel()
	client := newUsersClient(t)
	const name = "users/ada"
	tests := []struct {
		name string
		user *usersv1.User
		mask []string
		// violations are the fields of the BadRequest; nil for a valid request.
		violations []string
	}{
		{"masked field only", &usersv1.User{Name: name, DisplayName: "Ada"}, []string{"display_name"}, nil},
		{"masked field broken", &usersv1.User{Name: name}, []string{"display_name"}, []string{"user.display_name"}},
		{"unmasked field broken", &usersv1.User{Name: name, DisplayName: "Ada", Tags: []string{""}}, []string{"display_name"}, nil},
		{"masked list broken", &usersv1.User{Name: name, Tags: []string{"ok", ""}}, []string{"tags"}, []string{"user.tags[1]"}},
		{"nested path", &usersv1.User{Name: name, Address: &usersv1.Address{City: "London", CountryCode: "gb"}}, []string{"address.city"}, nil},
		{"nested path broken", &usersv1.User{Name: name, Address: &usersv1.Address{CountryCode: "gb"}}, []string{"address.country_code"}, []string{"user.address.country_code"}},
		{"whole nested message", &usersv1.User{Name: name, Address: &usersv1.Address{CountryCode: "gb"}}, []string{"address"}, []string{"user.address.country_code"}},
		{"no mask: the populated fields", &usersv1.User{Name: name, Email: "ada@example.com"}, nil, nil},
		{"no mask, populated field broken", &usersv1.User{Name: name, Email: "ada"}, nil, []string{"user.email"}},
		{"wildcard: the whole resource", &usersv1.User{Name: name, DisplayName: "Ada"}, []string{"*"}, []string{"user.email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := &usersv1.UpdateUserRequest{User: tc.user}
			if tc.mask != nil {
				req.UpdateMask = &fieldmaskpb.FieldMask{Paths: tc.mask}
			}
			_, err := client.UpdateUser(t.Context(), req)
			checkViolations(t, err, tc.violations)
		})
	}
	t.Run("resource still required", func(t *testing.T) {
		t.Parallel()
		_, err := client.UpdateUser(t.Context(), &usersv1.UpdateUserRequest{UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
		checkViolations(t, err, []string{"user"})
	})
	t.Run("requests without a mask are validated whole", func(t *testing.T) {
		t.Parallel()
		_, err := client.CreateUser(t.Context(), &usersv1.CreateUserRequest{User: &usersv1.User{DisplayName: "Ada"}})
		checkViolations(t, err, []string{"user.email"})
	})
}

// checkViolations fails unless err is nil for no violations, or INVALID_ARGUMENT with a
// google.rpc.BadRequest on exactly the fields of want.
func checkViolations(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v (%v), want INVALID_ARGUMENT", st.Code(), err)
	}
	var got []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				got = append(got, v.GetField())
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations on %q, want %q (%v)", got, want, err)
	}
}
