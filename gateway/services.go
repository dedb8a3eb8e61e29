package gateway

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// RegisterFunc registers the REST handlers of one gRPC service on mux; the handlers call the
// service over conn. The Register…Handler functions that protoc-gen-grpc-gateway generates have
// this signature.
type RegisterFunc func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// builtinServices are the services whose REST handlers are linked into the gateway, by full
// service name. A team adding an API adds its generated Register…Handler here (or passes it with
// [WithService]) and names the service under a backend in archway.yaml.
var builtinServices = map[string]RegisterFunc{
	usersv1.UserService_ServiceDesc.ServiceName:      usersv1.RegisterUserServiceHandler,
	ordersv1.OrderService_ServiceDesc.ServiceName:    ordersv1.RegisterOrderServiceHandler,
	catalogv1.CatalogService_ServiceDesc.ServiceName: catalogv1.RegisterCatalogServiceHandler,
}
