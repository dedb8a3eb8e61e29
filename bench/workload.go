package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// Workload is one kind of request, sent the same way to every target: as REST to the HTTP
// targets and as the equivalent gRPC call to the backend directly.
type Workload struct {
	// Name identifies the workload in flags and the report, such as "small-get".
	Name string
	// Description says what the request is, for the report.
	Description string
	// Method, Path and Body are the REST request; Path includes the query string.
	Method, Path string
	Body         []byte
	// Call makes the equivalent gRPC call (or calls) and returns the response message.
	Call func(ctx context.Context, c Clients) (proto.Message, error)
	// SubCalls are, for a composite, the backend calls it makes. The direct gRPC target
	// measures each alone at the latency rate, so the report can set the composite's latency
	// next to that of its slowest part.
	SubCalls []SubCall
	// Rounds is, for a composite, how many of its sub-calls run one after the other at most:
	// 1 when all of them run at once, 2 when one needs another's answer. Only a one-round
	// composite's latency floor is its slowest sub-call.
	Rounds int
	// Unsupported maps the targets that cannot serve the workload to the reason.
	Unsupported map[string]string
	// Skip, when set, is why the workload is not run.
	Skip string
}

// SubCall is one backend call of a composite workload.
type SubCall struct {
	// Name is the gRPC method, such as "UserService.GetUser".
	Name string
	// Call makes the call.
	Call func(ctx context.Context, c Clients) error
}

// Clients are the gRPC clients of the backend, for the direct target.
type Clients struct {
	Catalog catalogv1.CatalogServiceClient
	Users   usersv1.UserServiceClient
	Orders  ordersv1.OrderServiceClient
}

// NewClients returns the clients over the backend's catalog, users and orders connections.
func NewClients(catalog, users, orders grpc.ClientConnInterface) Clients {
	return Clients{
		Catalog: catalogv1.NewCatalogServiceClient(catalog),
		Users:   usersv1.NewUserServiceClient(users),
		Orders:  ordersv1.NewOrderServiceClient(orders),
	}
}

// ExtraProducts is how many generated products the benchmark backend holds on top of the 20
// seed products, and ListPageSize the page that makes the large response (about 16 KB).
const (
	ExtraProducts = 60
	ListPageSize  = 54
)

// Workloads returns every workload, the skipped ones included.
func Workloads() []Workload {
	update := updateUserRequest()
	body, err := protojson.Marshal(&usersv1.User{
		DisplayName: update.GetUser().GetDisplayName(),
		Email:       update.GetUser().GetEmail(),
		Tags:        update.GetUser().GetTags(),
		Address:     update.GetUser().GetAddress(),
	})
	if err != nil {
		panic(fmt.Sprintf("bench: marshal the update body: %v", err))
	}
	workloads := []Workload{
		{
			Name:        "small-get",
			Description: "GET one product (GetProduct); a ~300 B JSON response",
			Method:      http.MethodGet,
			Path:        "/v1/products/sku-espresso-250",
			Call: func(ctx context.Context, c Clients) (proto.Message, error) {
				return c.Catalog.GetProduct(ctx, &catalogv1.GetProductRequest{Id: "sku-espresso-250"})
			},
		},
		{
			Name: "body-1k",
			Description: fmt.Sprintf("PATCH a user with a %d B JSON body (UpdateUser, no update_mask: the "+
				"fields present are updated); the storefront has no POST that takes 1 KB without growing its state", len(body)),
			Method: http.MethodPatch,
			Path:   "/v1/users/ada-lovelace",
			Body:   body,
			Call: func(ctx context.Context, c Clients) (proto.Message, error) {
				return c.Users.UpdateUser(ctx, update)
			},
		},
		{
			Name:        "list-16k",
			Description: fmt.Sprintf("GET a page of %d products (ListProducts); a ~16 KB JSON response", ListPageSize),
			Method:      http.MethodGet,
			Path:        fmt.Sprintf("/v1/products?page_size=%d", ListPageSize),
			Call: func(ctx context.Context, c Clients) (proto.Message, error) {
				return c.Catalog.ListProducts(ctx, &catalogv1.ListProductsRequest{PageSize: ListPageSize})
			},
		},
		compositeWorkload(),
		productPageWorkload(),
		cachedWorkload(),
	}
	for i := range workloads {
		if workloads[i].Name == CachedWorkload {
			continue
		}
		if workloads[i].Unsupported == nil {
			workloads[i].Unsupported = make(map[string]string)
		}
		workloads[i].Unsupported[TargetArchwayCached] = "it runs only " + CachedWorkload + ", whose figures are cache hits"
	}
	return workloads
}

// CachedWorkload is the name of the workload that the archway-cached target answers from its
// response cache.
const CachedWorkload = "cached-get"

// cachedProduct is the product the cached-get workload reads: GetProduct is cached for 30 s by
// its annotation, shared by every caller.
const cachedProduct = "sku-espresso-250"

// cachedWorkload is a GET of a cacheable public catalog read, the small-get request: the
// archway-cached target answers it from its response cache, the others as the plain GET it is,
// so the report sets a cache hit next to translation (archway, grpc-gateway), direct gRPC and
// canned JSON (json-direct, what a hit cannot beat). archway-prod, vanguard and nginx add
// nothing to small-get's figures for the same request, and are left out to keep the run short.
func cachedWorkload() Workload {
	sameAsSmallGet := "the same request as small-get, measured there; left out of this workload to keep the run short"
	return Workload{
		Name: CachedWorkload,
		Description: "GET one product (GetProduct, cached 30 s by its annotation), the small-get request: " +
			"answered from the response cache by archway-cached, translated by the others",
		Method: http.MethodGet,
		Path:   "/v1/products/" + cachedProduct,
		Call: func(ctx context.Context, c Clients) (proto.Message, error) {
			return c.Catalog.GetProduct(ctx, &catalogv1.GetProductRequest{Id: cachedProduct})
		},
		Unsupported: map[string]string{
			TargetArchwayProd: "its response cache is off, as in archway; " + sameAsSmallGet,
			TargetVanguard:    sameAsSmallGet,
			TargetNginx:       sameAsSmallGet,
		},
	}
}

// The composite workload's user and the number of recent orders its overview shows (the
// endpoint's default).
const (
	overviewUser   = "users/ada-lovelace"
	overviewOrders = 5
)

// compositeWorkload is GET /v1/users/{id}:overview, served by Archway's composite service:
// GetUser and ListOrders concurrently, then BatchGetProducts for the orders' products. Its
// direct gRPC equivalent is a client making the same three calls with the same concurrency.
func compositeWorkload() Workload {
	return Workload{
		Name: "composite",
		Description: fmt.Sprintf("a user's overview (composite fan-out): GetUser and ListOrders (%d orders) concurrently, "+
			"then BatchGetProducts with the orders' products and stock", overviewOrders),
		Method: http.MethodGet,
		Path:   "/v1/" + overviewUser + ":overview",
		Call:   userOverview,
		Rounds: 2,
		SubCalls: []SubCall{
			{"UserService.GetUser", func(ctx context.Context, c Clients) error {
				_, err := c.Users.GetUser(ctx, &usersv1.GetUserRequest{Name: overviewUser})
				return err
			}},
			{"OrderService.ListOrders", func(ctx context.Context, c Clients) error {
				_, err := c.Orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{Parent: overviewUser, PageSize: overviewOrders})
				return err
			}},
			{"CatalogService.BatchGetProducts", batchGetOverviewProducts()},
		},
		Unsupported: compositeUnsupported(),
	}
}

// compositeUnsupported gives the targets that cannot serve a composite, with the reason.
func compositeUnsupported() map[string]string {
	gatewayOnly := "a composite is served by the gateway itself; this target only translates the backend's own API"
	cannedOnly := "serves canned JSON; a composite is a fan-out by the gateway itself"
	return map[string]string{
		TargetGRPCGateway: gatewayOnly,
		TargetVanguard:    gatewayOnly,
		TargetJSON:        cannedOnly,
		TargetNginx:       cannedOnly,
	}
}

// The product the composite-page workload shows.
const pageProduct = "sku-espresso-250"

// productPageWorkload is GET /v1/products/{id}:page, served by Archway's composite service:
// GetProduct, GetStock and CountOrders (the number of orders that contain the product) all at
// once, in one round, so its latency floor is its slowest sub-call. Its
// direct gRPC equivalent is a client making the same three calls at once.
func productPageWorkload() Workload {
	product := func(ctx context.Context, c Clients) (*catalogv1.Product, error) {
		return c.Catalog.GetProduct(ctx, &catalogv1.GetProductRequest{Id: pageProduct})
	}
	stock := func(ctx context.Context, c Clients) (*catalogv1.GetStockResponse, error) {
		return c.Catalog.GetStock(ctx, &catalogv1.GetStockRequest{ProductId: pageProduct})
	}
	orders := func(ctx context.Context, c Clients) (*ordersv1.CountOrdersResponse, error) {
		return c.Orders.CountOrders(ctx, &ordersv1.CountOrdersRequest{ProductId: pageProduct})
	}
	return Workload{
		Name: "composite-page",
		Description: "a product's page (composite fan-out, one round): GetProduct, GetStock and CountOrders " +
			"(the count of orders with the product) at once",
		Method: http.MethodGet,
		Path:   "/v1/products/" + pageProduct + ":page",
		Call: func(ctx context.Context, c Clients) (proto.Message, error) {
			var wg sync.WaitGroup
			var s *catalogv1.GetStockResponse
			var o *ordersv1.CountOrdersResponse
			var stockErr, ordersErr error
			wg.Go(func() { s, stockErr = stock(ctx, c) })
			wg.Go(func() { o, ordersErr = orders(ctx, c) })
			p, err := product(ctx, c)
			wg.Wait()
			if err = errors.Join(err, stockErr, ordersErr); err != nil {
				return nil, err
			}
			return &edgev1.ProductPage{Product: p, StockLevel: s.GetStockLevel(), OrderCount: o.GetTotalSize()}, nil
		},
		SubCalls: []SubCall{
			{"CatalogService.GetProduct", func(ctx context.Context, c Clients) error { _, err := product(ctx, c); return err }},
			{"CatalogService.GetStock", func(ctx context.Context, c Clients) error { _, err := stock(ctx, c); return err }},
			{"OrderService.CountOrders", func(ctx context.Context, c Clients) error { _, err := orders(ctx, c); return err }},
		},
		Rounds:      1,
		Unsupported: compositeUnsupported(),
	}
}

// userOverview makes the overview's calls directly, as the composite does, and assembles the
// same response.
func userOverview(ctx context.Context, c Clients) (proto.Message, error) {
	var orders *ordersv1.ListOrdersResponse
	var ordersErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		orders, ordersErr = c.Orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{Parent: overviewUser, PageSize: overviewOrders})
	}()
	user, err := c.Users.GetUser(ctx, &usersv1.GetUserRequest{Name: overviewUser})
	<-done
	if err != nil {
		return nil, err
	}
	if ordersErr != nil {
		return nil, ordersErr
	}
	products, err := c.Catalog.BatchGetProducts(ctx, &catalogv1.BatchGetProductsRequest{Ids: orderedProductIDs(orders.GetOrders()), IncludeStock: true})
	if err != nil {
		return nil, err
	}
	return &edgev1.UserOverview{
		User:         user,
		RecentOrders: orders.GetOrders(),
		TotalOrders:  orders.GetTotalSize(),
		Products:     products.GetProducts(),
		StockLevels:  products.GetStockLevels(),
	}, nil
}

// batchGetOverviewProducts returns the BatchGetProducts sub-call. The product ids come from the
// user's orders, read once, on the first call, so that every later call is the one request.
func batchGetOverviewProducts() func(ctx context.Context, c Clients) error {
	var mu sync.Mutex
	var ids []string
	return func(ctx context.Context, c Clients) error {
		mu.Lock()
		if ids == nil {
			orders, err := c.Orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{Parent: overviewUser, PageSize: overviewOrders})
			if err != nil {
				mu.Unlock()
				return err
			}
			ids = orderedProductIDs(orders.GetOrders())
		}
		req := &catalogv1.BatchGetProductsRequest{Ids: ids, IncludeStock: true}
		mu.Unlock()
		_, err := c.Catalog.BatchGetProducts(ctx, req)
		return err
	}
}

// orderedProductIDs lists the orders' product ids once each, in order of first mention.
func orderedProductIDs(orders []*ordersv1.Order) []string {
	seen := make(map[string]bool)
	ids := []string{}
	for _, o := range orders {
		for _, item := range o.GetItems() {
			if id := item.GetProductId(); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// updateUserRequest is the body-1k request: every updatable field of one user, about 1 KB as
// JSON. Sending it again leaves the user as it is, so the backend's state does not grow. It has
// no update_mask, because the targets disagree on its query form: grpc-gateway passes
// "display_name" through, vanguard accepts only the JSON form "displayName".
func updateUserRequest() *usersv1.UpdateUserRequest {
	tags := make([]string, 20)
	for i := range tags {
		tags[i] = fmt.Sprintf("benchmark-label-%02d-abcdefghijk", i)
	}
	return &usersv1.UpdateUserRequest{
		User: &usersv1.User{
			Name:        "users/ada-lovelace",
			DisplayName: "Ada Lovelace, Countess of Lovelace, mathematician and writer",
			Email:       "ada@example.org",
			Tags:        tags,
			Address: &usersv1.Address{
				Street:      "12 St James's Square, Westminster, second floor, the door on the left past the garden gate",
				City:        "London",
				PostalCode:  "SW1Y 4JH",
				CountryCode: "GB",
			},
		},
	}
}

// StatusError is a Doer's error for an HTTP answer other than 200 OK.
type StatusError struct {
	// Method and Path are the request's.
	Method, Path string
	// Code is the answer's HTTP status code.
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Code)
}

// httpDoer returns a Doer that sends w's REST request, with header's fields added (such as
// credentials; nil adds none), to base (such as "http://127.0.0.1:8080") and fails unless the
// answer is 200 OK, with a *StatusError when another status comes back.
func httpDoer(client *http.Client, base string, w Workload, header http.Header) Doer {
	url := base + w.Path
	return func(ctx context.Context) error {
		var body io.Reader = http.NoBody
		if w.Body != nil {
			body = bytes.NewReader(w.Body)
		}
		req, err := http.NewRequestWithContext(ctx, w.Method, url, body)
		if err != nil {
			return err
		}
		if w.Body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return &StatusError{Method: w.Method, Path: w.Path, Code: resp.StatusCode}
		}
		return nil
	}
}

// grpcDoer returns a Doer that makes w's gRPC call.
func grpcDoer(c Clients, w Workload) Doer {
	return func(ctx context.Context) error {
		_, err := w.Call(ctx, c)
		return err
	}
}
