// Package orders implements storefront.orders.v1.OrderService over a thread-safe in-memory store
// seeded with 25 deterministic orders, "orders/ord-1001" to "orders/ord-1025", in every state.
//
// CreateOrder prices its line items from the catalog with one BatchGetProducts call through the
// catalogv1.CatalogServiceClient given to New. It does not check that the parent user exists:
// users live in another service, and the gateway, not this backend, is where such cross-service
// checks belong. Nor does it reserve stock.
//
// WatchOrder streams from a per-order set of subscribers that the store notifies on every
// change; a stream ends when its order reaches a final state, when its client goes away, or when
// the Service is closed.
package orders
