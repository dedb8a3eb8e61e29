// Package policy builds the gateway's route policy table: for every gRPC method the gateway
// serves, who may call it, the scopes it needs, the rate-limit class and IP filter it counts
// against, how its responses are cached, its backend deadline and whether it may be retried.
//
// A policy comes from three places, each overriding the one before: the configured defaults
// (policy.defaults), the archway.policy.v1.route option on the method in its .proto file, and the
// configured per-method override (policy.routes). The table is built once at start-up by
// [Build]; names that refer to configuration (rate-limit and IP filter classes, methods in
// overrides) are checked then, so a typo stops the gateway instead of silently weakening a route.
//
// The gateway puts the matched route's policy in the request context with [NewContext]; the
// edge functions read it with [FromContext].
package policy
