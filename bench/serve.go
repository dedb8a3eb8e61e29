package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"connectrpc.com/vanguard"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/logging"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server"
	"github.com/archway-gateway/archway/server/catalog"
)

// The roles a serving process can take: the backend, one of the HTTP targets in front of it,
// or the canned-JSON server behind nginx.
const (
	RoleBackend       = "backend"
	RoleArchway       = "archway"
	RoleArchwayProd   = "archway-prod"
	RoleArchwayCached = "archway-cached"
	RoleGRPCGateway   = "grpc-gateway"
	RoleVanguard      = "vanguard"
	RoleJSON          = "json"
)

// ServeArgs are what a role needs: the backend's addresses for the proxies, the canned
// responses for the JSON server.
type ServeArgs struct {
	// Catalog, Users and Orders are the backend's gRPC listen addresses.
	Catalog, Users, Orders string
	// Responses maps "METHOD /path?query" to the body the JSON server answers with.
	Responses map[string][]byte
	// LogFile is the file the archway-prod role writes its logs into, the access log among
	// them, as JSON lines (created, or truncated). Empty discards them.
	LogFile string
}

// Serving is a running role.
type Serving struct {
	// Addrs are its listen addresses: catalog, users and orders for the backend, the HTTP
	// address otherwise.
	Addrs []string
	close func() error
}

// Close stops it and releases what it holds.
func (s *Serving) Close() error { return s.close() }

// Serve starts role on loopback listeners chosen by the system and returns once it accepts
// connections.
func Serve(ctx context.Context, role string, args ServeArgs) (*Serving, error) {
	if role == RoleBackend {
		sf, err := server.Start(ctx, server.Options{
			Services: []string{server.Catalog, server.Users, server.Orders},
			Catalog:  []catalog.Option{catalog.WithExtraProducts(ExtraProducts)},
		})
		if err != nil {
			return nil, fmt.Errorf("bench.Serve: %w", err)
		}
		return &Serving{
			Addrs: []string{sf.Addr(server.Catalog), sf.Addr(server.Users), sf.Addr(server.Orders)},
			close: func() error { sf.Stop(); return nil },
		}, nil
	}
	var handler http.Handler
	var release func() error
	var err error
	switch role {
	case RoleArchway:
		handler, release, err = archwayHandler(ctx, ArchwayConfig(args.Catalog, args.Users, args.Orders), "")
	case RoleArchwayProd:
		handler, release, err = archwayHandler(ctx, ArchwayProdConfig(args.Catalog, args.Users, args.Orders), args.LogFile)
	case RoleArchwayCached:
		handler, release, err = archwayHandler(ctx, ArchwayCachedConfig(args.Catalog, args.Users, args.Orders), "")
	case RoleGRPCGateway:
		handler, release, err = grpcGatewayHandler(ctx, args)
	case RoleVanguard:
		handler, release, err = vanguardHandler(args)
	case RoleJSON:
		handler, release, err = jsonHandler(args), func() error { return nil }, nil
	default:
		return nil, fmt.Errorf("bench.Serve: unknown role %q", role)
	}
	if err != nil {
		return nil, fmt.Errorf("bench.Serve: %s: %w", role, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		_ = release()
		return nil, fmt.Errorf("bench.Serve: %s: %w", role, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return &Serving{
		Addrs: []string{ln.Addr().String()},
		close: func() error {
			err := srv.Close()
			<-done
			return errors.Join(err, release())
		},
	}, nil
}

// The routes the workloads use, as policy.routes keys. The composite's backend calls pass no
// route policy: the gateway makes them.
var workloadRoutes = []string{
	"storefront.catalog.v1.CatalogService/GetProduct",
	"storefront.catalog.v1.CatalogService/ListProducts",
	"storefront.users.v1.UserService/UpdateUser",
	"archway.edge.v1.CompositeService/GetUserOverview",
	"archway.edge.v1.CompositeService/GetProductPage",
}

// ArchwayConfig is the archway.yaml of the Archway target with the chain off: the three
// backends (so the composite endpoints are served); every route the workloads use public (the
// annotations make UpdateUser need the users.write scope and the user overview a caller), every
// route in rate-limit class "none"; the admin listener, the access log, metrics and the
// response cache off (GetProduct and ListProducts are cached by their annotations, and the
// workloads measure translation, not hits); everything else is the default edge chain.
func ArchwayConfig(catalogAddr, usersAddr, ordersAddr string) string {
	return archwayConfig("cache: {enabled: false}", catalogAddr, usersAddr, ordersAddr)
}

// ArchwayCachedConfig is the archway.yaml of the archway-cached target: ArchwayConfig with the
// response cache on, in memory, with its debug header (cache.HeaderDebug), by which the harness
// checks that the target answers from the cache before measuring it.
func ArchwayCachedConfig(catalogAddr, usersAddr, ordersAddr string) string {
	return archwayConfig("cache: {enabled: true, store: memory, debug_header: true}", catalogAddr, usersAddr, ordersAddr)
}

// archwayConfig is the configuration of the chain-off Archway targets, with the given cache
// section.
func archwayConfig(cache, catalogAddr, usersAddr, ordersAddr string) string {
	var routes string
	for _, r := range workloadRoutes {
		routes += fmt.Sprintf("    %s: {access: public, scopes: []}\n", r)
	}
	return fmt.Sprintf(`admin: {enabled: false}
log: {access_log: false, level: warn}
telemetry: {metrics: {enabled: false}}
%s
policy:
  defaults: {access: public, rate_limit_class: none}
  routes:
%s`, cache, routes) + archwayBackends(catalogAddr, usersAddr, ordersAddr)
}

// The archway-prod target's credentials: the API key the load generator sends, its client id,
// and the secret with which the gateway signs the caller's identity onto backend calls.
const (
	ProdAPIKey         = "archway-bench-api-key-7c1f0e9a4b2d"
	ProdClientID       = "archway-bench"
	ProdIdentitySecret = "archway-bench-identity-secret-0123456789abcdef"
)

// ArchwayProdConfig is the archway.yaml of the Archway target with the production chain on:
// the same backends, with API-key authentication required on every route the workloads use
// (ProdAPIKey, stored as its SHA-256, granting users.write for UpdateUser), the caller's
// identity signed onto every backend call with ProdIdentitySecret, every route in the
// rate-limit class "default", whose limit (10,000,000 requests per second, burst 10,000,000, in
// memory) is never hit,
// the access log on (every request, JSON), Prometheus metrics on; tracing and the admin
// listener off, as in the chain-off target (metrics are counted either way; the admin listener
// would only serve them); the response cache off, as in the chain-off target.
func ArchwayProdConfig(catalogAddr, usersAddr, ordersAddr string) string {
	sum := sha256.Sum256([]byte(ProdAPIKey))
	var routes string
	for _, r := range workloadRoutes {
		routes += fmt.Sprintf("    %s: {access: authenticated}\n", r)
	}
	return fmt.Sprintf(`admin: {enabled: false}
log: {format: json, level: info, access_log: true, access_log_sample_rate: 1}
telemetry:
  metrics: {enabled: true}
  tracing: {enabled: false}
authn:
  identity_secret: %q
  api_keys:
    - client_id: %s
      sha256: %s
      scopes: [users.write]
rate_limit:
  store: memory
  classes:
    default: {requests: 10000000, per: 1s, burst: 10000000}
cache: {enabled: false}
policy:
  defaults: {access: authenticated, rate_limit_class: default}
  routes:
%s`, ProdIdentitySecret, ProdClientID, hex.EncodeToString(sum[:]), routes) + archwayBackends(catalogAddr, usersAddr, ordersAddr)
}

// archwayBackends is the backends section of the Archway targets.
func archwayBackends(catalogAddr, usersAddr, ordersAddr string) string {
	return fmt.Sprintf(`backends:
  - name: catalog
    address: %q
    services: [storefront.catalog.v1.CatalogService]
  - name: users
    address: %q
    services: [storefront.users.v1.UserService]
  - name: orders
    address: %q
    services: [storefront.orders.v1.OrderService]
`, catalogAddr, usersAddr, ordersAddr)
}

// archwayHandler builds the gateway that yaml configures. Its logs go, as JSON lines, to
// logFile, or nowhere when logFile is empty.
func archwayHandler(ctx context.Context, yaml, logFile string) (http.Handler, func() error, error) {
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		return nil, nil, err
	}
	logger, closeLog := slog.New(slog.DiscardHandler), func() error { return nil }
	if logFile != "" {
		f, err := os.Create(logFile)
		if err != nil {
			return nil, nil, err
		}
		buffered := logging.New(cfg.Log, f)
		logger, closeLog = buffered.Logger, func() error { return errors.Join(buffered.Close(), f.Close()) }
	}
	gw, err := gateway.New(ctx, cfg, gateway.WithLogger(logger))
	if err != nil {
		return nil, nil, errors.Join(err, closeLog())
	}
	return gw.Handler(), func() error { return errors.Join(gw.Close(), closeLog()) }, nil
}

// grpcGatewayHandler is what a team gets from grpc-gateway alone: a ServeMux with default
// options and the generated Register…Handler functions.
func grpcGatewayHandler(ctx context.Context, args ServeArgs) (http.Handler, func() error, error) {
	catalogConn, usersConn, err := dialBackend(args)
	if err != nil {
		return nil, nil, err
	}
	release := func() error { return errors.Join(catalogConn.Close(), usersConn.Close()) }
	mux := runtime.NewServeMux()
	if err := catalogv1.RegisterCatalogServiceHandler(ctx, mux, catalogConn); err != nil {
		return nil, nil, errors.Join(err, release())
	}
	if err := usersv1.RegisterUserServiceHandler(ctx, mux, usersConn); err != nil {
		return nil, nil, errors.Join(err, release())
	}
	return mux, release, nil
}

func dialBackend(args ServeArgs) (catalogConn, usersConn *grpc.ClientConn, err error) {
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	catalogConn, err = grpc.NewClient(args.Catalog, creds)
	if err != nil {
		return nil, nil, err
	}
	usersConn, err = grpc.NewClient(args.Users, creds)
	if err != nil {
		_ = catalogConn.Close()
		return nil, nil, err
	}
	return catalogConn, usersConn, nil
}

// vanguardHandler transcodes REST to gRPC with vanguard and forwards the gRPC requests to the
// backend through a reverse proxy speaking HTTP/2 without TLS (h2c), as gRPC servers expect.
func vanguardHandler(args ServeArgs) (http.Handler, func() error, error) {
	transport := &http.Transport{Protocols: new(http.Protocols)}
	transport.Protocols.SetUnencryptedHTTP2(true)
	proxy := func(addr string) http.Handler {
		target := &url.URL{Scheme: "http", Host: addr}
		return &httputil.ReverseProxy{
			Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
			Transport: transport,
			ErrorLog:  slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		}
	}
	grpcOnly := []vanguard.ServiceOption{
		vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
		vanguard.WithTargetCodecs(vanguard.CodecProto),
	}
	transcoder, err := vanguard.NewTranscoder([]*vanguard.Service{
		vanguard.NewService(catalogv1.CatalogService_ServiceDesc.ServiceName, proxy(args.Catalog), grpcOnly...),
		vanguard.NewService(usersv1.UserService_ServiceDesc.ServiceName, proxy(args.Users), grpcOnly...),
	})
	if err != nil {
		return nil, nil, err
	}
	release := func() error {
		transport.CloseIdleConnections()
		return nil
	}
	return transcoder, release, nil
}

// jsonHandler answers every request with the canned body for its method and URI, after
// reading the request body; unknown requests get 404.
func jsonHandler(args ServeArgs) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		body, ok := args.Responses[r.Method+" "+r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}
