package validation_test

import (
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server/validation"
)

// A backend chains the validation link into its gRPC server; its services then see only
// requests that keep their rules.
func ExampleUnaryServerInterceptor() {
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(validation.UnaryServerInterceptor(nil)),
		grpc.ChainStreamInterceptor(validation.StreamServerInterceptor(nil)),
	)
	defer srv.Stop()
	fmt.Println(len(srv.GetServiceInfo()))
	// Output: 0
}

// A partial update is checked by its mask: the user's required email is not part of this
// update, the empty display name is.
func ExampleValidate() {
	req := &usersv1.UpdateUserRequest{
		User:       &usersv1.User{Name: "users/ada", DisplayName: ""},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	}
	st := status.Convert(validation.Validate(nil, req))
	for _, v := range st.Details()[0].(*errdetails.BadRequest).GetFieldViolations() {
		fmt.Println(st.Code(), v.GetField())
	}
	req.User.DisplayName = "Ada"
	fmt.Println(validation.Validate(nil, req))
	// Output:
	// InvalidArgument user.display_name
	// <nil>
}
