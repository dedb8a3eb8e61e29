// Package orders implements storefront.orders.v1.OrderService over a thread-safe in-memory store
// seeded with 25 deterministic orders, "orders/ord-1001" to "orders/ord-1025", in every state.
//
// CreateOrder prices its line items from the catalog with one BatchGetProducts call through the
// catalogv1.CatalogServiceClient given to New. It does not check that the parent user exists:
// users live in another service, and the gateway, not this backend, is where such cross-service
// checks belong. Nor does it reserve stock.
//
// Every method authorizes its call from the verified identity (package server/internal/authz): a
// caller sees and changes only the orders placed for their own user, "users/{subject}", unless
// they hold AdminScope; another user's order is NOT_FOUND, as one that does not exist. A cancel
// asked for in SupportChat goes through CancelOrder with the chat's caller, so it needs
// orders.write, the scope of the cancel route. CountOrders is public: it counts every user's
// orders that contain a product, for the product page.
//
// WatchOrder streams from a per-order set of subscribers that the store notifies on every
// change; a stream ends when its order reaches a final state, when its client goes away, or when
// the Service is closed.
package orders
