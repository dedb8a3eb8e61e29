package orders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	"github.com/archway-gateway/archway/server/internal/authz"
	"github.com/archway-gateway/archway/server/internal/page"
	"github.com/archway-gateway/archway/server/internal/rpcerr"
)

// Service is the in-memory OrderService. It is safe for concurrent use.
type Service struct {
	ordersv1.UnimplementedOrderServiceServer

	opts      options
	catalog   catalogv1.CatalogServiceClient
	store     *store
	closing   chan struct{}
	closeOnce func()
}

var _ ordersv1.OrderServiceServer = (*Service)(nil)

// errNotFound is the store's answer for an unknown order name.
var errNotFound = errors.New("order not found")

// AdminScope lets its holder see and change every user's orders; without it, a caller sees and
// changes only the orders of their own user, "users/{subject}".
const AdminScope = "orders.admin"

// The routes of the methods, whose access and scopes every call is checked against. A cancel
// asked for in a support chat is checked against cancelRoute, as POST …:cancel is.
var (
	createRoute  = authz.RouteOf(ordersv1.OrderService_CreateOrder_FullMethodName)
	getRoute     = authz.RouteOf(ordersv1.OrderService_GetOrder_FullMethodName)
	listRoute    = authz.RouteOf(ordersv1.OrderService_ListOrders_FullMethodName)
	countRoute   = authz.RouteOf(ordersv1.OrderService_CountOrders_FullMethodName)
	cancelRoute  = authz.RouteOf(ordersv1.OrderService_CancelOrder_FullMethodName)
	advanceRoute = authz.RouteOf(ordersv1.OrderService_AdvanceOrder_FullMethodName)
	watchRoute   = authz.RouteOf(ordersv1.OrderService_WatchOrder_FullMethodName)
	chatRoute    = authz.RouteOf(ordersv1.OrderService_SupportChat_FullMethodName)
)

// authorize returns the caller of a call to route; see authz.Authorize.
func (s *Service) authorize(ctx context.Context, route authz.Route) (authz.Caller, error) {
	return authz.Authorize(ctx, route, s.opts.insecureNoIdentity)
}

// visible returns the order called name when it exists and the caller may see it.
func (s *Service) visible(c authz.Caller, name string) (*ordersv1.Order, bool) {
	o, ok := s.store.get(name)
	if !ok || !c.Sees(o.GetUser(), AdminScope) {
		return nil, false
	}
	return o, true
}

// New returns a Service holding the seed orders that prices new orders from catalog.
func New(catalog catalogv1.CatalogServiceClient, opts ...Option) *Service {
	s := &Service{
		catalog: catalog,
		store:   newStore(seed()),
		closing: make(chan struct{}),
	}
	s.closeOnce = sync.OnceFunc(func() { close(s.closing) })
	s.opts.now = time.Now
	for _, o := range opts {
		o(&s.opts)
	}
	return s
}

// Close ends every open WatchOrder stream with UNAVAILABLE and makes new ones fail the same
// way, so that a graceful server stop need not wait for watchers. Other methods keep working.
// Close may be called more than once.
func (s *Service) Close() {
	s.closeOnce()
}

func orderName(n int) string {
	return fmt.Sprintf("orders/ord-%d", n)
}

// CreateOrder places an order for req.parent with req.order's line items, priced from the
// catalog, in state PENDING. Returns NOT_FOUND for a parent other than the caller's own user
// unless the caller has AdminScope, and INVALID_ARGUMENT with a violation on
// order.items[N].product_id for every item whose product the catalog does not know.
func (s *Service) CreateOrder(ctx context.Context, req *ordersv1.CreateOrderRequest) (*ordersv1.Order, error) {
	c, err := s.authorize(ctx, createRoute)
	if err != nil {
		return nil, err
	}
	if !c.Sees(req.GetParent(), AdminScope) {
		return nil, userNotFound(req.GetParent())
	}
	items := req.GetOrder().GetItems()
	var ids []string
	for _, it := range items {
		if !slices.Contains(ids, it.GetProductId()) {
			ids = append(ids, it.GetProductId())
		}
	}
	found, err := s.catalog.BatchGetProducts(ctx, &catalogv1.BatchGetProductsRequest{Ids: ids})
	if err != nil {
		return nil, catalogError(err)
	}
	prices := make(map[string]*catalogv1.Money, len(found.GetProducts()))
	for _, p := range found.GetProducts() {
		prices[p.GetId()] = p.GetPrice()
	}

	now := timestamppb.New(s.opts.now())
	o := &ordersv1.Order{
		User:       req.GetParent(),
		State:      ordersv1.OrderState_ORDER_STATE_PENDING,
		CreateTime: now,
		UpdateTime: now,
	}
	var violations []*errdetails.BadRequest_FieldViolation
	for i, it := range items {
		price, ok := prices[it.GetProductId()]
		if !ok {
			violations = append(violations, rpcerr.Violation(fmt.Sprintf("order.items[%d].product_id", i),
				fmt.Sprintf("unknown product %q", it.GetProductId())))
			continue
		}
		if o.CurrencyCode == "" {
			o.CurrencyCode = price.GetCurrencyCode()
		}
		if price.GetCurrencyCode() != o.GetCurrencyCode() {
			return nil, rpcerr.FailedPrecondition("CURRENCY", it.GetProductId(),
				fmt.Sprintf("product %q is priced in %s, not %s", it.GetProductId(), price.GetCurrencyCode(), o.GetCurrencyCode()))
		}
		o.Items = append(o.Items, &ordersv1.LineItem{
			ProductId:      it.GetProductId(),
			Quantity:       it.GetQuantity(),
			UnitPriceMinor: price.GetAmountMinor(),
		})
		o.TotalMinor += price.GetAmountMinor() * int64(it.GetQuantity())
	}
	if len(violations) > 0 {
		return nil, rpcerr.InvalidArgument("order names unknown products", violations...)
	}
	return s.store.create(o), nil
}

// catalogError turns a failed catalog call into the error CreateOrder returns: the caller's own
// cancellation or deadline as such, anything else as UNAVAILABLE, since the order can be placed
// again once the catalog answers. The catalog's message is not passed on.
func catalogError(err error) error {
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded:
		return err
	default:
		return status.Error(codes.Unavailable, "the catalog could not price the order; try again")
	}
}

// GetOrder returns the order req names, or NOT_FOUND, also for an order the caller may not see.
func (s *Service) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	c, err := s.authorize(ctx, getRoute)
	if err != nil {
		return nil, err
	}
	o, ok := s.visible(c, req.GetName())
	if !ok {
		return nil, notFound(req.GetName())
	}
	return o, nil
}

// ListOrders returns one page of the orders that match every filter of req, newest first. Without
// a parent it lists every order the caller may see: every user's with AdminScope, else their own.
// A parent other than the caller's own user is NOT_FOUND unless the caller has AdminScope.
func (s *Service) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	c, err := s.authorize(ctx, listRoute)
	if err != nil {
		return nil, err
	}
	if p := req.GetParent(); p != "" && !c.Sees(p, AdminScope) {
		return nil, userNotFound(p)
	}
	if lo, hi := req.GetTotal().GetMinMinor(), req.GetTotal().GetMaxMinor(); lo > 0 && hi > 0 && lo > hi {
		return nil, rpcerr.InvalidArgument("invalid total range",
			rpcerr.Violation("total", "min_minor must not exceed max_minor"))
	}
	q := page.NewQuery(req)
	after, err := q.After(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	var matched []*ordersv1.Order
	for _, o := range s.store.all() {
		if c.Sees(o.GetUser(), AdminScope) && matches(o, req) {
			matched = append(matched, o)
		}
	}
	orders, next := page.Slice(matched, sortKey, after, page.Size(req.GetPageSize()))
	resp := &ordersv1.ListOrdersResponse{TotalSize: int32(len(matched))}
	for _, o := range orders {
		resp.Orders = append(resp.Orders, proto.CloneOf(o))
	}
	if next != "" {
		resp.NextPageToken = q.Token(next)
	}
	return resp, nil
}

// matches reports whether o passes every filter of req.
func matches(o *ordersv1.Order, req *ordersv1.ListOrdersRequest) bool {
	if p := req.GetParent(); p != "" && o.GetUser() != p {
		return false
	}
	if st := req.GetStates(); len(st) > 0 && !slices.Contains(st, o.GetState()) {
		return false
	}
	if after := req.GetCreatedAfter(); after != nil && o.GetCreateTime().AsTime().Before(after.AsTime()) {
		return false
	}
	if lo := req.GetTotal().GetMinMinor(); lo > 0 && o.GetTotalMinor() < lo {
		return false
	}
	if hi := req.GetTotal().GetMaxMinor(); hi > 0 && o.GetTotalMinor() > hi {
		return false
	}
	if id := req.GetProductId(); id != "" && !contains(o, id) {
		return false
	}
	return true
}

// contains reports whether o has a line item of the product with id productID.
func contains(o *ordersv1.Order, productID string) bool {
	return slices.ContainsFunc(o.GetItems(), func(it *ordersv1.LineItem) bool {
		return it.GetProductId() == productID
	})
}

// CountOrders returns the number of orders, of every user, that contain req.product_id. The
// method is public: the count names no one, and the request cannot narrow it to one user.
func (s *Service) CountOrders(ctx context.Context, req *ordersv1.CountOrdersRequest) (*ordersv1.CountOrdersResponse, error) {
	if _, err := s.authorize(ctx, countRoute); err != nil {
		return nil, err
	}
	var n int32
	for _, o := range s.store.all() {
		if contains(o, req.GetProductId()) {
			n++
		}
	}
	return &ordersv1.CountOrdersResponse{TotalSize: n}, nil
}

// sortKey orders orders newest first, then by name.
func sortKey(o *ordersv1.Order) string {
	return page.Key(page.DescTime(o.GetCreateTime().AsTime()), o.GetName())
}

// CancelOrder cancels a PENDING or PAID order, recording req.reason. Returns NOT_FOUND for an
// unknown order or one the caller may not see, and FAILED_PRECONDITION for one that is SHIPPED,
// DELIVERED or CANCELLED. The support chat cancels through it, with the chat's caller.
func (s *Service) CancelOrder(ctx context.Context, req *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	c, err := s.authorize(ctx, cancelRoute)
	if err != nil {
		return nil, err
	}
	return s.change(c, req.GetName(), func(o *ordersv1.Order) error {
		switch o.GetState() {
		case ordersv1.OrderState_ORDER_STATE_PENDING, ordersv1.OrderState_ORDER_STATE_PAID:
		default:
			return rpcerr.FailedPrecondition("STATE", o.GetName(),
				fmt.Sprintf("order %q is %s and can no longer be cancelled", o.GetName(), o.GetState()))
		}
		o.State = ordersv1.OrderState_ORDER_STATE_CANCELLED
		o.CancelReason = req.GetReason()
		if o.CancelReason == "" {
			o.CancelReason = "cancelled on request"
		}
		return nil
	})
}

// nextState is the fulfilment step that AdvanceOrder takes from each state that has one.
var nextState = map[ordersv1.OrderState]ordersv1.OrderState{
	ordersv1.OrderState_ORDER_STATE_PENDING: ordersv1.OrderState_ORDER_STATE_PAID,
	ordersv1.OrderState_ORDER_STATE_PAID:    ordersv1.OrderState_ORDER_STATE_SHIPPED,
	ordersv1.OrderState_ORDER_STATE_SHIPPED: ordersv1.OrderState_ORDER_STATE_DELIVERED,
}

// AdvanceOrder moves an order one step along PENDING, PAID, SHIPPED, DELIVERED. Returns
// NOT_FOUND for an unknown order and FAILED_PRECONDITION for one that is DELIVERED or CANCELLED.
func (s *Service) AdvanceOrder(ctx context.Context, req *ordersv1.AdvanceOrderRequest) (*ordersv1.Order, error) {
	c, err := s.authorize(ctx, advanceRoute)
	if err != nil {
		return nil, err
	}
	return s.change(c, req.GetName(), func(o *ordersv1.Order) error {
		next, ok := nextState[o.GetState()]
		if !ok {
			return rpcerr.FailedPrecondition("STATE", o.GetName(),
				fmt.Sprintf("order %q is %s, a final state", o.GetName(), o.GetState()))
		}
		o.State = next
		return nil
	})
}

// change applies apply to the order called name, stamping its update_time, when c may see the
// order.
func (s *Service) change(c authz.Caller, name string, apply func(*ordersv1.Order) error) (*ordersv1.Order, error) {
	o, err := s.store.update(name, func(o *ordersv1.Order) error {
		if !c.Sees(o.GetUser(), AdminScope) {
			return errNotFound
		}
		if err := apply(o); err != nil {
			return err
		}
		o.UpdateTime = timestamppb.New(s.opts.now())
		return nil
	})
	if errors.Is(err, errNotFound) {
		return nil, notFound(name)
	}
	return o, err
}

// WatchOrder sends the order req names as it is now, then the order after each change. It
// returns, ending the stream, after sending a DELIVERED or CANCELLED order. Returns NOT_FOUND for
// an unknown order or one the caller may not see, the client's cancellation when it goes away,
// and UNAVAILABLE when the Service is closed.
func (s *Service) WatchOrder(req *ordersv1.WatchOrderRequest, stream grpc.ServerStreamingServer[ordersv1.OrderEvent]) error {
	c, err := s.authorize(stream.Context(), watchRoute)
	if err != nil {
		return err
	}
	if _, ok := s.visible(c, req.GetName()); !ok {
		return notFound(req.GetName())
	}
	select {
	case <-s.closing:
		return errClosing
	default:
	}
	o, changes, cancel, err := s.store.watch(req.GetName())
	if err != nil {
		return notFound(req.GetName())
	}
	defer cancel()
	ctx := stream.Context()
	for {
		if err := stream.Send(&ordersv1.OrderEvent{Order: o, EventTime: o.GetUpdateTime()}); err != nil {
			return err
		}
		if final(o.GetState()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.closing:
			return errClosing
		case changed := <-changes:
			o = proto.CloneOf(changed)
		}
	}
}

// errClosing ends the watches of a closed Service.
var errClosing = status.Error(codes.Unavailable, "the server is shutting down; watch again")

func final(st ordersv1.OrderState) bool {
	return st == ordersv1.OrderState_ORDER_STATE_DELIVERED || st == ordersv1.OrderState_ORDER_STATE_CANCELLED
}

func notFound(name string) error {
	return status.Errorf(codes.NotFound, "order %q not found", name)
}

// userNotFound is the answer for the orders of a user the caller may not see: the same whether
// the user exists or not.
func userNotFound(name string) error {
	return status.Errorf(codes.NotFound, "user %q not found", name)
}

// SupportChat answers a customer's chat about one order: it greets the customer with the
// order's state, answers every message (a question about the status with the state, a request
// to cancel by cancelling the order when it can still be), and writes whenever the order
// changes state. It returns when the customer closes the chat. Returns NOT_FOUND for an unknown
// order or one the caller may not see, INVALID_ARGUMENT when a message names another order than
// the first, and UNAVAILABLE when the Service is closed. A cancel asked for in the chat is
// CancelOrder's, with the chat's caller: it needs the same scope as the cancel route.
func (s *Service) SupportChat(stream grpc.BidiStreamingServer[ordersv1.SupportMessage, ordersv1.SupportMessage]) error {
	c, err := s.authorize(stream.Context(), chatRoute)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	name := first.GetName()
	if _, ok := s.visible(c, name); !ok {
		return notFound(name)
	}
	o, changes, cancel, err := s.store.watch(name)
	if err != nil {
		return notFound(name)
	}
	defer cancel()
	ctx, stop := context.WithCancel(stream.Context())
	defer stop()
	msgs := make(chan *ordersv1.SupportMessage)
	recvErr := make(chan error, 1)
	go func() {
		defer close(msgs)
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	say := func(format string, args ...any) error {
		return stream.Send(&ordersv1.SupportMessage{
			Name:       name,
			Text:       fmt.Sprintf(format, args...),
			Author:     ordersv1.Author_AUTHOR_SUPPORT,
			CreateTime: timestamppb.New(s.opts.now()),
		})
	}
	if err := say("Hello! Order %s is %s. Ask for its status, or ask to cancel it.", name, o.GetState()); err != nil {
		return err
	}
	if err := s.answer(ctx, name, first.GetText(), say); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.closing:
			return errClosing
		case changed := <-changes:
			if err := say("Order %s is now %s.", name, changed.GetState()); err != nil {
				return err
			}
		case m, ok := <-msgs:
			if !ok {
				if err := <-recvErr; !errors.Is(err, io.EOF) {
					return err
				}
				return nil
			}
			if m.GetName() != name {
				return status.Errorf(codes.InvalidArgument, "this chat is about %s, not %s", name, m.GetName())
			}
			if err := s.answer(ctx, name, m.GetText(), say); err != nil {
				return err
			}
		}
	}
}

// answer replies to one customer message about the order called name, acting for the caller of
// the chat whose context is ctx.
func (s *Service) answer(ctx context.Context, name, text string, say func(format string, args ...any) error) error {
	lower := strings.ToLower(text)
	switch {
	case strings.Contains(lower, "cancel"):
		o, err := s.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Name: name, Reason: "cancelled in a support chat"})
		if err != nil {
			return say("Order %s cannot be cancelled: %s", name, status.Convert(err).Message())
		}
		return say("Order %s is cancelled.", o.GetName())
	case strings.Contains(lower, "status"), strings.Contains(lower, "where"):
		o, ok := s.store.get(name)
		if !ok {
			return notFound(name)
		}
		return say("Order %s is %s.", name, o.GetState())
	default:
		return say("Thank you. Support will get back to you about order %s.", name)
	}
}
