package catalog

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	"github.com/archway-gateway/archway/server/internal/mask"
	"github.com/archway-gateway/archway/server/internal/page"
	"github.com/archway-gateway/archway/server/internal/rpcerr"
)

// Service is the in-memory CatalogService. It is safe for concurrent use.
type Service struct {
	catalogv1.UnimplementedCatalogServiceServer

	opts options

	mu       sync.RWMutex
	products map[string]*catalogv1.Product    // owned by the store: cloned on the way out
	stock    map[string]*catalogv1.StockLevel // by product id; replaced, never changed in place
}

var _ catalogv1.CatalogServiceServer = (*Service)(nil)

// New returns a Service holding the seed products.
func New(opts ...Option) *Service {
	s := &Service{
		products: make(map[string]*catalogv1.Product),
		stock:    make(map[string]*catalogv1.StockLevel),
	}
	s.opts.now = time.Now
	for _, o := range opts {
		o(&s.opts)
	}
	for _, p := range append(seed(), extraSeed(s.opts.extra)...) {
		s.products[p.product.GetId()] = p.product
		s.stock[p.product.GetId()] = p.stock
	}
	return s
}

// GetProduct returns the product with req's id, limited to req.read_mask. Returns NOT_FOUND for
// an unknown id and INVALID_ARGUMENT naming read_mask for a path that is not a Product field.
func (s *Service) GetProduct(_ context.Context, req *catalogv1.GetProductRequest) (*catalogv1.Product, error) {
	if err := mask.CheckRead(req.GetReadMask(), &catalogv1.Product{}, "read_mask"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	p, ok := s.products[req.GetId()]
	s.mu.RUnlock()
	if !ok {
		return nil, notFound(req.GetId())
	}
	out := proto.CloneOf(p)
	mask.Keep(out, req.GetReadMask().GetPaths())
	return out, nil
}

// ListProducts returns one page of the products that match every filter of req, in req.order_by
// order, each limited to req.read_mask. The read mask may change from page to page; the filters
// and order may not.
func (s *Service) ListProducts(_ context.Context, req *catalogv1.ListProductsRequest) (*catalogv1.ListProductsResponse, error) {
	if err := mask.CheckRead(req.GetReadMask(), &catalogv1.Product{}, "read_mask"); err != nil {
		return nil, err
	}
	if lo, hi := req.GetPrice().GetMinMinor(), req.GetPrice().GetMaxMinor(); lo > 0 && hi > 0 && lo > hi {
		return nil, rpcerr.InvalidArgument("invalid price range",
			rpcerr.Violation("price", "min_minor must not exceed max_minor"))
	}
	q := page.NewQuery(req, "read_mask")
	after, err := q.After(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	key := sortKey(req.GetOrderBy())

	s.mu.RLock()
	var matched []*catalogv1.Product
	for id, p := range s.products {
		if matches(p, s.stock[id], req) {
			matched = append(matched, p)
		}
	}
	s.mu.RUnlock()

	products, next := page.Slice(matched, key, after, page.Size(req.GetPageSize()))
	resp := &catalogv1.ListProductsResponse{TotalSize: int32(len(matched))}
	for _, p := range products {
		out := proto.CloneOf(p)
		mask.Keep(out, req.GetReadMask().GetPaths())
		resp.Products = append(resp.Products, out)
	}
	if next != "" {
		resp.NextPageToken = q.Token(next)
	}
	return resp, nil
}

// matches reports whether p, with stock level st, passes every filter of req.
func matches(p *catalogv1.Product, st *catalogv1.StockLevel, req *catalogv1.ListProductsRequest) bool {
	if c := req.GetCategory(); c != catalogv1.Category_CATEGORY_UNSPECIFIED && p.GetCategory() != c {
		return false
	}
	price := p.GetPrice().GetAmountMinor()
	if lo := req.GetPrice().GetMinMinor(); lo > 0 && price < lo {
		return false
	}
	if hi := req.GetPrice().GetMaxMinor(); hi > 0 && price > hi {
		return false
	}
	if tags := req.GetTags(); len(tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool {
		return slices.Contains(p.GetTags(), t)
	}) {
		return false
	}
	if req.GetInStock() && st.GetAvailable() <= 0 {
		return false
	}
	return true
}

// sortKey returns the page key function for a sort order; ties break by id.
func sortKey(order catalogv1.ProductOrder) func(*catalogv1.Product) string {
	switch order {
	case catalogv1.ProductOrder_PRODUCT_ORDER_PRICE_ASC:
		return func(p *catalogv1.Product) string {
			return page.Key(page.AscInt(p.GetPrice().GetAmountMinor()), p.GetId())
		}
	case catalogv1.ProductOrder_PRODUCT_ORDER_PRICE_DESC:
		return func(p *catalogv1.Product) string {
			return page.Key(page.DescInt(p.GetPrice().GetAmountMinor()), p.GetId())
		}
	case catalogv1.ProductOrder_PRODUCT_ORDER_NEWEST:
		return func(p *catalogv1.Product) string {
			return page.Key(page.DescTime(p.GetCreateTime().AsTime()), p.GetId())
		}
	default:
		return (*catalogv1.Product).GetId
	}
}

// BatchGetProducts returns the products req names, each once, in the order of first mention;
// ids that match no product are listed, once each, in missing_ids. With include_stock it also
// returns the stock level of every product found, in the same order.
func (s *Service) BatchGetProducts(_ context.Context, req *catalogv1.BatchGetProductsRequest) (*catalogv1.BatchGetProductsResponse, error) {
	resp := &catalogv1.BatchGetProductsResponse{}
	seen := make(map[string]bool, len(req.GetIds()))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range req.GetIds() {
		if seen[id] {
			continue
		}
		seen[id] = true
		p, ok := s.products[id]
		if !ok {
			resp.MissingIds = append(resp.MissingIds, id)
			continue
		}
		resp.Products = append(resp.Products, proto.CloneOf(p))
		if req.GetIncludeStock() {
			resp.StockLevels = append(resp.StockLevels, proto.CloneOf(s.stock[id]))
		}
	}
	return resp, nil
}

// GetStock returns the stock level of the product req names, or NOT_FOUND.
func (s *Service) GetStock(_ context.Context, req *catalogv1.GetStockRequest) (*catalogv1.GetStockResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.stock[req.GetProductId()]
	if !ok {
		return nil, notFound(req.GetProductId())
	}
	return &catalogv1.GetStockResponse{StockLevel: proto.CloneOf(st)}, nil
}

// AdjustStock adds req.delta to the product's available stock and returns the new level.
// Returns NOT_FOUND for an unknown product and FAILED_PRECONDITION when the stock would become
// negative or exceed the largest level a StockLevel holds.
func (s *Service) AdjustStock(_ context.Context, req *catalogv1.AdjustStockRequest) (*catalogv1.StockLevel, error) {
	id := req.GetProductId()
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stock[id]
	if !ok {
		return nil, notFound(id)
	}
	level := int64(st.GetAvailable()) + int64(req.GetDelta())
	switch {
	case level < 0:
		return nil, rpcerr.FailedPrecondition("STOCK", "products/"+id,
			fmt.Sprintf("only %d units of %q available, cannot take %d", st.GetAvailable(), id, -req.GetDelta()))
	case level > math.MaxInt32:
		return nil, rpcerr.FailedPrecondition("STOCK", "products/"+id,
			fmt.Sprintf("stock of %q cannot exceed %d", id, math.MaxInt32))
	}
	next := &catalogv1.StockLevel{
		ProductId:  id,
		Available:  int32(level),
		UpdateTime: timestamppb.New(s.opts.now()),
	}
	s.stock[id] = next
	return proto.CloneOf(next), nil
}

func notFound(id string) error {
	return status.Errorf(codes.NotFound, "product %q not found", id)
}
