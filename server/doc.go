// Package server runs Archway's demo backends, the storefront services users, orders and
// catalog, over gRPC.
//
// NewGRPCServer builds the gRPC server every backend uses. Its interceptor chain, outermost
// first, is: recovery (a panic becomes INTERNAL with a generic message and is logged with its
// stack), logging (one record per finished call), auth (when an identity secret is set, every
// call but health checks and reflection must carry the identity the gateway signed, see
// package identity; otherwise UNAUTHENTICATED), and validation (package server/validation:
// the buf.validate rules of the request, checked with protovalidate, of a masked update only those
// of the fields in its update_mask; violations become INVALID_ARGUMENT with a
// google.rpc.BadRequest detail holding one field violation per rule violation, such as
// "user.email"). Only in tests, a fault link comes last: Options.Faults (or the storefront
// binary's -test-faults flag) delays, holds or fails every call of a service, and logs what the
// call observed; see ParseFaults. The server also serves gRPC health, with every service and "" SERVING, and
// server reflection.
//
// Start runs a chosen set of services, each on its own listener and gRPC server, and logs one
// INFO record per listener with message "listening" and attributes service and addr. Both the
// storefront binary and the gateway's embedded demo use it:
//
//	sf, err := server.Start(ctx, server.Options{Logger: logger})
//	if err != nil {
//		return err
//	}
//	defer sf.Stop()
//	usersAddr := sf.Addr(server.Users)
//
// Options.MaxConnectionAge makes the servers close client connections (GOAWAY) after a while, so
// that clients re-resolve the services' names and reach instances added since. Shutdown first
// turns every health service NOT_SERVING, so that watching clients such as the gateway stop
// sending calls, and ends health watches, which would otherwise hold the graceful stop open.
//
// Orders prices new orders from the catalog over gRPC: Start connects it to the catalog's
// listener when both run in the same Storefront, and to Options.CatalogTarget otherwise.
//
// Users and orders authorize every call themselves, from the verified identity (see
// server/internal/authz and docs/authentication.md): a caller sees and changes only their own
// user, "users/{subject}", and its orders, unless they hold users.admin or orders.admin; what the
// caller may not see is NOT_FOUND. Each call is also checked against the access and scopes that
// its method's archway.policy.v1.route option declares, so that an action reached inside a
// stream (a cancel asked for in the support chat) needs the scope of its own route. Without
// Options.IdentitySecret no identity is verified and every call is served as an administrator's.
//
// The services live in the sub-packages users, orders and catalog; their shared helpers
// (pagination tokens, field masks, error details) in server/internal.
package server
