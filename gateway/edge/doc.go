// Package edge holds the gateway's HTTP chain: the links that every request passes through before
// it reaches the transcoder, and the one place that writes errors as google.rpc.Status JSON.
//
// The order of the links is fixed by [Chain]; each link is also usable on its own: [RequestID],
// [ClientIP] (the client's address through trusted proxies), [AccessLog], [Recover],
// [StripMethodOverride], [CORS] and [LimitBody]. Per-request state that later layers need (the
// request id, the client's address and identity, the matched route and gRPC method, the gRPC
// code of the answer, whether the body was cut off at its limit) is kept in one [State] value
// in the request context.
package edge
