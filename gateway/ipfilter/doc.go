// Package ipfilter refuses requests by the client's IP address, with allow and deny lists of
// CIDRs: one pair for every route, and named pairs (classes) for the routes whose policy names
// them.
//
// A list pair decides alike at both levels: an address a deny list covers is refused, and so is
// one that a non-empty allow list does not cover; deny wins over allow. IPv4-mapped IPv6
// addresses are taken as the IPv4 addresses they map, in the lists and in requests. The
// client's address is the one the edge chain resolved through trusted proxies
// ([edge.State.ClientIP]); a client whose address is unknown is refused by every non-empty allow
// list.
//
// The global lists are checked by [Filter.GlobalMiddleware], which runs before routing, so a
// refused client learns nothing about the routes; a route's class is checked by
// [Filter.Middleware], which runs after routing, where [policy.FromContext] names it. A refused
// request is answered 403 PERMISSION_DENIED, with a message that does not say which rule
// matched.
package ipfilter
