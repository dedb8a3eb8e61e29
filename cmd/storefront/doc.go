// Command storefront runs Archway's demo backends, the users, orders and catalog gRPC services,
// each on its own listener, until SIGINT or SIGTERM; then it stops them gracefully.
//
// Usage:
//
//	storefront [flags]
//
// Flags:
//
//	-services        comma-separated services to run (default "users,orders,catalog")
//	-users-addr      listen address of users (default "127.0.0.1:9101")
//	-orders-addr     listen address of orders (default "127.0.0.1:9102")
//	-catalog-addr    listen address of catalog (default "127.0.0.1:9103")
//	-catalog-target  gRPC target of a remote catalog, required when orders runs without catalog
//	-log-format      json or text (default "text")
//	-log-level       debug, info, warn or error (default "info")
//	-test-faults     for tests only: delays and failures to inject per service (default none),
//	                 such as "users=delay:50ms;catalog=fail:unavailable;orders=hang"; see
//	                 server.ParseFaults. Every injection is logged as "injected fault".
//	-max-connection-age
//	                 close each client connection after about this long (default 5m; 0 keeps
//	                 connections open): the server sends GOAWAY and the client reconnects,
//	                 resolving the service's name again. grpc-go clients, the gateway's
//	                 included, re-resolve DNS only on such connection events, so without it
//	                 instances added behind a DNS name (a scaled-up headless Service) get no
//	                 traffic from clients already connected.
//	-max-connection-age-grace
//	                 how long calls still running on a connection past its maximum age may take
//	                 before it is cut (default 30s; 0 waits for them without limit)
//	-insecure-no-identity
//	                 accept every call, without the gateway's signed identity; only for trusted
//	                 networks and local experiments
//
// Environment:
//
//	STOREFRONT_IDENTITY_SECRET  the secret shared with the gateway (its authn.identity_secret),
//	                            at least 32 bytes. Every call except health checks and reflection
//	                            must carry the identity the gateway signed with it, so only the
//	                            gateway can call the services. Required unless
//	                            -insecure-no-identity is given; it is read from the environment,
//	                            never from a flag, because flags show in ps.
//
// Logs go to standard error; each service logs one "listening" record with its service and addr.
package main
