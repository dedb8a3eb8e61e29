// Package composite implements archway.edge.v1, the API that the gateway serves itself: each
// method calls several backends concurrently and aggregates their answers, so that a client makes
// one request instead of several.
//
// [Service] implements the generated CompositeService server interface. The gateway registers it
// in-process on its ServeMux (RegisterCompositeServiceHandlerServer), so composite routes get
// the edge chain, the error rendering and the request id like every other route, and it calls
// the backends through the gateway's own ClientConns, so every sub-call passes through the same
// client interceptor chain. The request's forwarded metadata (the request id and the headers
// allowlisted by api.forward_headers) goes with every sub-call.
//
// [FanOut] is the reusable part: a composite declares each sub-call as a [Required] or
// [Optional] part, with a typed result, and [FanOut.Wait] gathers them under one time budget:
//
//	f := composite.NewFanOut(ctx, 2*time.Second)
//	user := composite.Required(f, "user", func(ctx context.Context) (*usersv1.User, error) {
//		return users.GetUser(ctx, &usersv1.GetUserRequest{Name: name})
//	})
//	orders := composite.Optional(f, "orders", func(ctx context.Context) (*ordersv1.ListOrdersResponse, error) {
//		return orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{Parent: name})
//	})
//	degraded, err := f.Wait() // err: the first required failure; degraded: failed optional parts
//
// The rule for partial results: an optional part that fails or runs out of time leaves its
// field empty and its name in the response's degraded_parts, and the gateway sets the
// [PartialHeader] response header; the response is still 200. A required part that fails fails
// the request with that part's status, rendered by the gateway's error handler like a backend
// error (so INTERNAL or UNAVAILABLE details stay hidden). When a required part fails, the budget
// is spent or the client goes away, the outstanding sub-calls are cancelled; Wait returns only
// when every part has finished. docs/composites.md describes the endpoints.
package composite
