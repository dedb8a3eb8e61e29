package server_test

import (
	"context"
	"fmt"
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server"
)

func ExampleStart() {
	ctx := context.Background()
	// All three services on free loopback ports; orders reaches catalog in-process.
	sf, err := server.Start(ctx, server.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sf.Stop()

	conn, err := grpc.NewClient(sf.Addr(server.Users), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	u, err := usersv1.NewUserServiceClient(conn).GetUser(ctx, &usersv1.GetUserRequest{Name: "users/ada-lovelace"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.GetDisplayName(), u.GetState())
	// Output: Ada Lovelace USER_STATE_ACTIVE
}
