package composite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/gateway/backend"
	"github.com/archway-gateway/archway/gateway/edge"
	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// PartialHeader is the response header that names the degraded parts of a partial composite
// response, comma-separated, such as "orders, products". It is absent when the response is
// complete.
const PartialHeader = "Archway-Partial"

// ServiceName is the full name of the gRPC service that Service implements.
var ServiceName = edgev1.CompositeService_ServiceDesc.ServiceName

// Needs returns the full names of the backend services that Service calls. The gateway serves
// the composites only when a backend serves each of them.
func Needs() []string {
	return []string{
		usersv1.UserService_ServiceDesc.ServiceName,
		ordersv1.OrderService_ServiceDesc.ServiceName,
		catalogv1.CatalogService_ServiceDesc.ServiceName,
	}
}

// Defaults of the requests.
const (
	// defaultOrderLimit is the number of recent orders of a user overview when the request
	// sets none.
	defaultOrderLimit = 5
	// maxBatchIDs is the most ids BatchGetProducts accepts in one call.
	maxBatchIDs = 100
)

// Options configures [New].
type Options struct {
	// Timeout is the total budget of one composite request: every backend call it makes gets at
	// most what is left of it. By default, 2s.
	Timeout time.Duration
	// Logger receives one warn record per degraded part. By default, records are discarded.
	Logger *slog.Logger
}

// Service implements archway.edge.v1.CompositeService over the storefront backends. The gateway
// registers it on its ServeMux with RegisterCompositeServiceHandlerServer, so the edge chain,
// the error rendering and the request id apply as for every other route.
type Service struct {
	edgev1.UnimplementedCompositeServiceServer

	users   usersv1.UserServiceClient
	orders  ordersv1.OrderServiceClient
	catalog catalogv1.CatalogServiceClient
	timeout time.Duration
	logger  *slog.Logger
}

var _ edgev1.CompositeServiceServer = (*Service)(nil)

// New returns the Service that calls the backends of set that serve [Needs], through their
// ClientConns, so that every sub-call passes through the gateway's client interceptor chain. It
// fails when no backend serves one of them.
func New(set *backend.Set, opts Options) (*Service, error) {
	conns := make(map[string]*backend.Backend)
	var missing []string
	for _, svc := range Needs() {
		b, ok := set.ForService(svc)
		if !ok {
			missing = append(missing, svc)
			continue
		}
		conns[svc] = b
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("composite.New: no backend serves %s", strings.Join(missing, ", "))
	}
	s := &Service{
		users:   usersv1.NewUserServiceClient(conns[usersv1.UserService_ServiceDesc.ServiceName].Conn),
		orders:  ordersv1.NewOrderServiceClient(conns[ordersv1.OrderService_ServiceDesc.ServiceName].Conn),
		catalog: catalogv1.NewCatalogServiceClient(conns[catalogv1.CatalogService_ServiceDesc.ServiceName].Conn),
		timeout: opts.Timeout,
		logger:  opts.Logger,
	}
	if s.timeout <= 0 {
		s.timeout = 2 * time.Second
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// GetUserOverview reads the user and their recent orders concurrently, then the products of
// those orders with one BatchGetProducts call (ids de-duplicated, stock included) as soon as the
// orders are in, while the user may still be on its way. Every sub-call carries the caller's
// identity, so the backends decide what the caller may see, as for the routes of the sub-calls.
func (s *Service) GetUserOverview(ctx context.Context, req *edgev1.GetUserOverviewRequest) (*edgev1.UserOverview, error) {
	if err := validate(req); err != nil {
		return nil, err
	}
	limit := req.GetOrderLimit()
	if limit == 0 {
		limit = defaultOrderLimit
	}
	f := s.fanOut(ctx)
	user := Required(f, "user", func(ctx context.Context) (*usersv1.User, error) {
		return s.users.GetUser(ctx, &usersv1.GetUserRequest{Name: req.GetName()})
	})
	orders := Optional(f, "orders", func(ctx context.Context) (*ordersv1.ListOrdersResponse, error) {
		return s.orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{Parent: req.GetName(), PageSize: limit})
	})
	products := Optional(f, "products", func(ctx context.Context) (*catalogv1.BatchGetProductsResponse, error) {
		o, err := orders.Await(ctx)
		if err != nil {
			return nil, err
		}
		ids := productIDs(o.GetOrders())
		if len(ids) == 0 {
			return &catalogv1.BatchGetProductsResponse{}, nil
		}
		return s.catalog.BatchGetProducts(ctx, &catalogv1.BatchGetProductsRequest{Ids: ids, IncludeStock: true})
	})
	degraded, err := f.Wait()
	if err != nil {
		return nil, err
	}
	return &edgev1.UserOverview{
		User:          user.Value(),
		RecentOrders:  orders.Value().GetOrders(),
		TotalOrders:   orders.Value().GetTotalSize(),
		Products:      products.Value().GetProducts(),
		StockLevels:   products.Value().GetStockLevels(),
		DegradedParts: degraded,
	}, nil
}

// productIDs returns the product ids of the orders' line items, each once, in the order of
// first mention, at most maxBatchIDs of them.
func productIDs(orders []*ordersv1.Order) []string {
	seen := make(map[string]bool)
	var ids []string
	for _, o := range orders {
		for _, item := range o.GetItems() {
			id := item.GetProductId()
			if seen[id] || len(ids) == maxBatchIDs {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// GetProductPage reads the product, its stock level and the number of orders that contain it,
// all three concurrently. The count comes from CountOrders, which is public like the page (and
// like the page's shared cache entry): ListOrders would count only the orders the caller may
// see.
func (s *Service) GetProductPage(ctx context.Context, req *edgev1.GetProductPageRequest) (*edgev1.ProductPage, error) {
	if err := validate(req); err != nil {
		return nil, err
	}
	f := s.fanOut(ctx)
	product := Required(f, "product", func(ctx context.Context) (*catalogv1.Product, error) {
		return s.catalog.GetProduct(ctx, &catalogv1.GetProductRequest{Id: req.GetId()})
	})
	stock := Optional(f, "stock", func(ctx context.Context) (*catalogv1.GetStockResponse, error) {
		return s.catalog.GetStock(ctx, &catalogv1.GetStockRequest{ProductId: req.GetId()})
	})
	count := Optional(f, "order_count", func(ctx context.Context) (*ordersv1.CountOrdersResponse, error) {
		return s.orders.CountOrders(ctx, &ordersv1.CountOrdersRequest{ProductId: req.GetId()})
	})
	degraded, err := f.Wait()
	if err != nil {
		return nil, err
	}
	return &edgev1.ProductPage{
		Product:       product.Value(),
		StockLevel:    stock.Value().GetStockLevel(),
		OrderCount:    count.Value().GetTotalSize(),
		DegradedParts: degraded,
	}, nil
}

// fanOut starts the fan-out of one request. Its sub-calls carry the metadata that the gateway
// would send a backend for this request: the request id and the allowlisted headers.
func (s *Service) fanOut(ctx context.Context) *FanOut {
	return NewFanOut(forwardMetadata(ctx), s.timeout, WithLogger(s.logger))
}

// forwardMetadata returns ctx with the request's incoming metadata, which grpc-gateway built
// from the HTTP request exactly as for a proxied call, as the outgoing metadata of the
// sub-calls. The request id is added when missing.
func forwardMetadata(ctx context.Context) context.Context {
	in, _ := metadata.FromIncomingContext(ctx)
	out := in.Copy()
	if len(out.Get("x-request-id")) == 0 {
		if id := edge.RequestIDFrom(ctx); id != "" {
			out.Set("x-request-id", id)
		}
	}
	return metadata.NewOutgoingContext(ctx, out)
}

// validate checks the buf.validate rules of a composite request, which the gateway serves
// itself: a violation is INVALID_ARGUMENT with a google.rpc.BadRequest detail, as a backend
// would answer.
func validate(req proto.Message) error {
	err := protovalidate.Validate(req)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return status.Error(codes.Internal, "request validation failed to run")
	}
	br := &errdetails.BadRequest{}
	for _, v := range verr.Violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       protovalidate.FieldPathString(v.Proto.GetField()),
			Description: v.Proto.GetMessage(),
		})
	}
	st, detailErr := status.New(codes.InvalidArgument, verr.Error()).WithDetails(br)
	if detailErr != nil {
		return status.Error(codes.InvalidArgument, verr.Error())
	}
	return st.Err()
}

// degradable is a composite response that lists its degraded parts.
type degradable interface {
	GetDegradedParts() []string
}

// SetPartialHeader sets [PartialHeader] on a composite response with degraded parts. It is a
// grpc-gateway forward-response option (runtime.WithForwardResponseOption); other responses
// pass untouched.
func SetPartialHeader(_ context.Context, w http.ResponseWriter, resp proto.Message) error {
	if d, ok := resp.(degradable); ok && len(d.GetDegradedParts()) > 0 {
		w.Header().Set(PartialHeader, strings.Join(d.GetDegradedParts(), ", "))
	}
	return nil
}
