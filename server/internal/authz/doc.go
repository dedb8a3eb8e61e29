// Package authz decides, in the storefront's services, who may see and change what: the
// object-level authorization that the gateway cannot do, because it knows the caller's scopes but
// not who owns a user or an order.
//
// The model, which docs/authentication.md describes for teams that copy it:
//
//   - The gateway authenticates the caller and checks the route's scopes; it signs the caller's
//     identity onto every backend call (package identity), and the server chain
//     verifies it and puts it in the context.
//   - [Authorize] reads that identity and checks again what the contract declares for the method
//     (the archway.policy.v1.route option: public or not, and its scopes). A route can only
//     guard the call it routes: a cancel asked for inside the support chat reaches CancelOrder
//     without the gateway seeing it, and must need the same scope as POST …:cancel.
//   - The caller whose subject is S is the user "users/S": [Caller.Owns] compares resource
//     names, so a service needs no lookup to know whether a user record, or an order placed for
//     it, is the caller's own. A subject that is not a valid user id ([a-z0-9-], 1 to 64
//     characters, such as an API key's client id with an underscore) owns no user.
//   - An admin scope (users.admin, orders.admin) lets its holder see and change every user's
//     resources of that kind ([Caller.Sees]).
//
// A service answers NOT_FOUND, exactly as for a resource that does not exist, when the caller
// may not see a resource, so that nobody learns which orders or users exist; and PERMISSION_DENIED
// only when the caller may see the resource but lacks a scope for the action.
package authz
