package catalog_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	"github.com/archway-gateway/archway/server/catalog"
	"github.com/archway-gateway/archway/server/internal/servertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var fixedNow = time.Date(2026, time.April, 1, 12, 0, 0, 0, time.UTC)

func newClient(t *testing.T) catalogv1.CatalogServiceClient {
	t.Helper()
	svc := catalog.New(catalog.WithClock(func() time.Time { return fixedNow }))
	conn := servertest.Dial(t, func(r grpc.ServiceRegistrar) { catalogv1.RegisterCatalogServiceServer(r, svc) })
	return catalogv1.NewCatalogServiceClient(conn)
}

func ids(ps []*catalogv1.Product) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.GetId())
	}
	return out
}

func TestGetProduct(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	tests := []struct {
		name       string
		req        *catalogv1.GetProductRequest
		code       codes.Code
		violations []string
		want       *catalogv1.Product
	}{
		{
			name: "read mask",
			req:  &catalogv1.GetProductRequest{Id: "sku-espresso-250", ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"id", "title", "price"}}},
			want: &catalogv1.Product{Id: "sku-espresso-250", Title: "Espresso Blend, 250 g", Price: &catalogv1.Money{CurrencyCode: "EUR", AmountMinor: 1290}},
		},
		{
			name: "nested read mask",
			req:  &catalogv1.GetProductRequest{Id: "sku-aeropress", ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"price.amount_minor", "tags"}}},
			want: &catalogv1.Product{Price: &catalogv1.Money{AmountMinor: 3999}, Tags: []string{"immersion", "gift"}},
		},
		{name: "not found", req: &catalogv1.GetProductRequest{Id: "sku-tea"}, code: codes.NotFound},
		{name: "invalid mask path", req: &catalogv1.GetProductRequest{Id: "sku-aeropress", ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"title", "colour"}}},
			code: codes.InvalidArgument, violations: []string{"read_mask"}},
		{name: "empty id", req: &catalogv1.GetProductRequest{}, code: codes.InvalidArgument, violations: []string{"id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := c.GetProduct(t.Context(), tt.req)
			servertest.Code(t, err, tt.code)
			for _, f := range tt.violations {
				if v := servertest.Violations(t, err); v[f] == "" {
					t.Errorf("violations = %v, want one on %s", v, f)
				}
			}
			if tt.want != nil && !proto.Equal(p, tt.want) {
				t.Errorf("GetProduct = %v, want %v", p, tt.want)
			}
		})
	}

	t.Run("no mask returns everything", func(t *testing.T) {
		t.Parallel()
		p, err := c.GetProduct(t.Context(), &catalogv1.GetProductRequest{Id: "sku-kenya-aa-250"})
		if err != nil {
			t.Fatal(err)
		}
		if p.GetDescription() == "" || p.GetCategory() != catalogv1.Category_CATEGORY_COFFEE || p.GetCreateTime() == nil {
			t.Errorf("GetProduct = %v, want every field", p)
		}
	})
}

func TestListProducts(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	tests := []struct {
		name      string
		req       *catalogv1.ListProductsRequest
		wantFirst []string
		wantTotal int32
	}{
		{"by id", &catalogv1.ListProductsRequest{PageSize: 3}, []string{"sku-aeropress", "sku-brazil-cerrado-1000", "sku-colombia-huila-250"}, 20},
		{"cheapest first", &catalogv1.ListProductsRequest{PageSize: 2, OrderBy: catalogv1.ProductOrder_PRODUCT_ORDER_PRICE_ASC}, []string{"sku-filter-papers-100", "sku-espresso-250"}, 20},
		{"dearest first", &catalogv1.ListProductsRequest{PageSize: 2, OrderBy: catalogv1.ProductOrder_PRODUCT_ORDER_PRICE_DESC}, []string{"sku-espresso-machine-home", "sku-grinder-burr-pro"}, 20},
		{"newest first", &catalogv1.ListProductsRequest{PageSize: 2, OrderBy: catalogv1.ProductOrder_PRODUCT_ORDER_NEWEST}, []string{"sku-milk-jug-600", "sku-decaf-swiss-water-250"}, 20},
		{"category", &catalogv1.ListProductsRequest{Category: catalogv1.Category_CATEGORY_ACCESSORIES},
			[]string{"sku-cup-cappuccino-set", "sku-filter-papers-100", "sku-milk-jug-600", "sku-mug-ceramic-350"}, 4},
		{"price range", &catalogv1.ListProductsRequest{Price: &catalogv1.PriceRange{MinMinor: 3000, MaxMinor: 4000}},
			[]string{"sku-aeropress", "sku-brazil-cerrado-1000", "sku-french-press-1l"}, 3},
		{"tags any of", &catalogv1.ListProductsRequest{Tags: []string{"decaf", "grinder"}},
			[]string{"sku-decaf-swiss-water-250", "sku-grinder-burr-pro", "sku-grinder-hand"}, 3},
		{"in stock", &catalogv1.ListProductsRequest{InStock: true, Category: catalogv1.Category_CATEGORY_EQUIPMENT, OrderBy: catalogv1.ProductOrder_PRODUCT_ORDER_PRICE_DESC, PageSize: 1},
			[]string{"sku-grinder-burr-pro"}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.ListProducts(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(resp.GetProducts()); !slices.Equal(got, tt.wantFirst) {
				t.Errorf("products = %v, want %v", got, tt.wantFirst)
			}
			if resp.GetTotalSize() != tt.wantTotal {
				t.Errorf("total_size = %d, want %d", resp.GetTotalSize(), tt.wantTotal)
			}
		})
	}
}

func TestListProductsPagesWithReadMask(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := t.Context()
	var got []*catalogv1.Product
	req := &catalogv1.ListProductsRequest{PageSize: 6, OrderBy: catalogv1.ProductOrder_PRODUCT_ORDER_PRICE_ASC}
	for i := 0; ; i++ {
		if i == 1 {
			// The read mask may change between pages without invalidating the token.
			req.ReadMask = &fieldmaskpb.FieldMask{Paths: []string{"id", "price"}}
		}
		resp, err := c.ListProducts(ctx, req)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		got = append(got, resp.GetProducts()...)
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if len(got) != 20 {
		t.Fatalf("got %d products over all pages, want 20", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].GetPrice().GetAmountMinor() < got[i-1].GetPrice().GetAmountMinor() {
			t.Errorf("%s after %s: not cheapest first", got[i].GetId(), got[i-1].GetId())
		}
	}
	if got[0].GetTitle() == "" || got[19].GetTitle() != "" || got[19].GetId() != "sku-espresso-machine-home" {
		t.Errorf("first %v, last %v: want full then masked products", got[0], got[19])
	}

	t.Run("token bound to order", func(t *testing.T) {
		t.Parallel()
		first, err := c.ListProducts(ctx, &catalogv1.ListProductsRequest{PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListProducts(ctx, &catalogv1.ListProductsRequest{PageToken: first.GetNextPageToken(), OrderBy: catalogv1.ProductOrder_PRODUCT_ORDER_NEWEST})
		if v := servertest.Violations(t, err); v["page_token"] == "" {
			t.Errorf("violations = %v, want one on page_token", v)
		}
	})
}

func TestListProductsInvalid(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	tests := []struct {
		name  string
		req   *catalogv1.ListProductsRequest
		field string
	}{
		{"page size", &catalogv1.ListProductsRequest{PageSize: 101}, "page_size"},
		{"negative price", &catalogv1.ListProductsRequest{Price: &catalogv1.PriceRange{MinMinor: -1}}, "price.min_minor"},
		{"inverted price", &catalogv1.ListProductsRequest{Price: &catalogv1.PriceRange{MinMinor: 500, MaxMinor: 100}}, "price"},
		{"undefined order", &catalogv1.ListProductsRequest{OrderBy: 42}, "order_by"},
		{"read mask", &catalogv1.ListProductsRequest{ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"stock"}}}, "read_mask"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.ListProducts(t.Context(), tt.req)
			if v := servertest.Violations(t, err); v[tt.field] == "" {
				t.Errorf("violations = %v, want one on %s", v, tt.field)
			}
		})
	}
}

func TestBatchGetProducts(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	tests := []struct {
		name        string
		req         *catalogv1.BatchGetProductsRequest
		wantIDs     []string
		wantMissing []string
		wantStock   []int32
	}{
		{
			name:        "dedupe keeps first mention order",
			req:         &catalogv1.BatchGetProductsRequest{Ids: []string{"sku-v60-dripper", "sku-nope", "sku-espresso-250", "sku-v60-dripper", "sku-nope"}},
			wantIDs:     []string{"sku-v60-dripper", "sku-espresso-250"},
			wantMissing: []string{"sku-nope"},
		},
		{
			name:      "with stock",
			req:       &catalogv1.BatchGetProductsRequest{Ids: []string{"sku-kenya-aa-250", "sku-aeropress"}, IncludeStock: true},
			wantIDs:   []string{"sku-kenya-aa-250", "sku-aeropress"},
			wantStock: []int32{0, 40},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.BatchGetProducts(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(resp.GetProducts()); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("products = %v, want %v", got, tt.wantIDs)
			}
			if !slices.Equal(resp.GetMissingIds(), tt.wantMissing) {
				t.Errorf("missing_ids = %v, want %v", resp.GetMissingIds(), tt.wantMissing)
			}
			var stock []int32
			for i, st := range resp.GetStockLevels() {
				if st.GetProductId() != tt.wantIDs[i] {
					t.Errorf("stock_levels[%d] is for %s, want %s", i, st.GetProductId(), tt.wantIDs[i])
				}
				stock = append(stock, st.GetAvailable())
			}
			if !slices.Equal(stock, tt.wantStock) {
				t.Errorf("stock = %v, want %v", stock, tt.wantStock)
			}
		})
	}

	t.Run("no ids", func(t *testing.T) {
		t.Parallel()
		_, err := c.BatchGetProducts(t.Context(), &catalogv1.BatchGetProductsRequest{})
		if v := servertest.Violations(t, err); v["ids"] == "" {
			t.Errorf("violations = %v, want one on ids", v)
		}
	})
}

func TestStock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		productID string
		delta     int32
		code      codes.Code
		want      int32
	}{
		{"add", "sku-kenya-aa-250", 24, codes.OK, 24},
		{"take", "sku-aeropress", -40, codes.OK, 0},
		{"take too many", "sku-aeropress", -41, codes.FailedPrecondition, 40},
		{"take from empty", "sku-milk-jug-600", -1, codes.FailedPrecondition, 0},
		{"zero delta", "sku-aeropress", 0, codes.InvalidArgument, 40},
		{"huge delta", "sku-aeropress", 10001, codes.InvalidArgument, 40},
		{"unknown product", "sku-tea", 1, codes.NotFound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			ctx := t.Context()
			level, err := c.AdjustStock(ctx, &catalogv1.AdjustStockRequest{ProductId: tt.productID, Delta: tt.delta, Reason: "test"})
			servertest.Code(t, err, tt.code)
			switch tt.code {
			case codes.OK:
				if level.GetAvailable() != tt.want || !level.GetUpdateTime().AsTime().Equal(fixedNow) {
					t.Errorf("AdjustStock = %v, want %d at %v", level, tt.want, fixedNow)
				}
			case codes.FailedPrecondition:
				if typ := servertest.Precondition(t, err); typ != "STOCK" {
					t.Errorf("precondition type = %q, want STOCK", typ)
				}
			case codes.InvalidArgument:
				if v := servertest.Violations(t, err); v["delta"] == "" {
					t.Errorf("violations = %v, want one on delta", v)
				}
			}
			got, err := c.GetStock(ctx, &catalogv1.GetStockRequest{ProductId: tt.productID})
			if tt.code == codes.NotFound {
				servertest.Code(t, err, codes.NotFound)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.GetStockLevel().GetAvailable() != tt.want {
				t.Errorf("GetStock = %d, want %d", got.GetStockLevel().GetAvailable(), tt.want)
			}
		})
	}
}

func TestConcurrentAdjustStock(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := t.Context()
	// 40 in stock; 60 callers each take one: exactly 40 succeed.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, fail int
	)
	for range 60 {
		wg.Go(func() {
			_, err := c.AdjustStock(ctx, &catalogv1.AdjustStockRequest{ProductId: "sku-aeropress", Delta: -1})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case status.Code(err) == codes.FailedPrecondition:
				fail++
			default:
				t.Errorf("AdjustStock: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 40 || fail != 20 {
		t.Errorf("%d takes succeeded and %d failed, want 40 and 20", ok, fail)
	}
}

func TestWithExtraProducts(t *testing.T) {
	t.Parallel()
	svc := catalog.New(catalog.WithExtraProducts(60))
	conn := servertest.Dial(t, func(r grpc.ServiceRegistrar) { catalogv1.RegisterCatalogServiceServer(r, svc) })
	client := catalogv1.NewCatalogServiceClient(conn)
	resp, err := client.ListProducts(t.Context(), &catalogv1.ListProductsRequest{PageSize: 100})
	if err != nil {
		t.Fatalf("ListProducts: %v", err)
	}
	if got := len(resp.GetProducts()); got != 80 {
		t.Errorf("ListProducts returned %d products, want the 20 seed products and 60 extra", got)
	}
	p, err := client.GetProduct(t.Context(), &catalogv1.GetProductRequest{Id: "sku-bench-0060"})
	if err != nil {
		t.Fatalf("GetProduct(sku-bench-0060): %v", err)
	}
	if p.GetPrice().GetAmountMinor() == 0 || p.GetDescription() == "" {
		t.Errorf("generated product is incomplete: %v", p)
	}
}
