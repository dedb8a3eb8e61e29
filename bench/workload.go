package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
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
	// Call makes the equivalent gRPC call and returns the response message.
	Call func(ctx context.Context, c Clients) (proto.Message, error)
	// Skip, when set, is why the workload is not run.
	Skip string
}

// Clients are the gRPC clients of the backend, for the direct target.
type Clients struct {
	Catalog catalogv1.CatalogServiceClient
	Users   usersv1.UserServiceClient
}

// NewClients returns the clients over the backend's catalog and users connections.
func NewClients(catalog, users grpc.ClientConnInterface) Clients {
	return Clients{Catalog: catalogv1.NewCatalogServiceClient(catalog), Users: usersv1.NewUserServiceClient(users)}
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
	return []Workload{
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
		{Name: "composite", Skip: "composite fan-out endpoints are not built yet (issue 4)"},
		{Name: "cached-get", Skip: "the response cache is not built yet (issue 8)"},
	}
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

// httpDoer returns a Doer that sends w's REST request to base (such as
// "http://127.0.0.1:8080") and fails unless the answer is 200 OK.
func httpDoer(client *http.Client, base string, w Workload) Doer {
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
			return fmt.Errorf("%s %s: HTTP %d", w.Method, w.Path, resp.StatusCode)
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
