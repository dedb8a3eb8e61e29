package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/identity"
	"github.com/archway-gateway/archway/server/catalog"
	"github.com/archway-gateway/archway/server/orders"
	"github.com/archway-gateway/archway/server/users"
)

// The names of the demo services, as used in Options.Services, Options.Addrs and Storefront.Addr.
const (
	Users   = "users"
	Orders  = "orders"
	Catalog = "catalog"
)

// DefaultAddr is the listen address of a service that Options.Addrs leaves out: a free loopback
// port.
const DefaultAddr = "127.0.0.1:0"

// ServiceNames returns the names of all demo services, in the order Start starts them.
func ServiceNames() []string {
	return []string{Catalog, Users, Orders}
}

// Options configures Start.
type Options struct {
	// Services lists the services to start, each one of Users, Orders and Catalog, at most once.
	// By default, all three.
	Services []string
	// Addrs maps a service name to its listen address, such as "127.0.0.1:9101". By default,
	// a service listens on DefaultAddr. Entries for services that are not started are ignored.
	Addrs map[string]string
	// CatalogTarget is the gRPC target, such as "127.0.0.1:9103" or "dns:///catalog:9090",
	// through which orders reaches the catalog when Catalog is not among Services. It is
	// required then, and ignored when Catalog is started too: orders then dials the catalog's
	// own listener.
	CatalogTarget string
	// Catalog are options for the catalog service, such as catalog.WithExtraProducts. By
	// default, none.
	Catalog []catalog.Option
	// Logger receives one "listening" record per service (with attributes service and addr) and
	// the servers' call logs. By default, records are discarded.
	Logger *slog.Logger
	// Faults injects delays and failures into every call of the named services, for tests (see
	// ParseFaults and Fault). By default, none: a service without an entry behaves normally.
	Faults map[string]Fault
	// IdentitySecret is the secret shared with the gateway, at least 32 bytes long: every call
	// except health checks and reflection must then carry the identity the gateway signed
	// with it (see package identity), and orders signs the identity it received
	// onto its calls to the catalog; users and orders then let a caller see and change only
	// their own user and orders, unless the caller holds users.admin or orders.admin (see
	// package server/internal/authz). By default empty: every call is accepted and served as an
	// administrator's, which only tests and trusted networks should allow (the storefront
	// binary requires the secret unless -insecure-no-identity is given).
	IdentitySecret string
	// TracerProvider records a span for every call the services serve and make (health checks
	// excluded), continuing the caller's W3C trace context (see TracingOption). By default,
	// nil: no tracing.
	TracerProvider trace.TracerProvider
	// MaxConnectionAge closes every client connection after about this long (±10%, so that
	// clients do not all reconnect at once): the server sends GOAWAY, and the client opens a
	// new connection, re-resolving the service's name as it does. grpc-go clients, the
	// gateway's included, re-resolve DNS only on such connection events, so without it an
	// instance added behind a DNS name gets no traffic from clients already connected.
	// MaxConnectionAgeGrace then lets calls still running finish before the connection is cut.
	// By default, 0: connections live until either side closes them.
	MaxConnectionAge, MaxConnectionAgeGrace time.Duration
}

// Storefront is a running set of demo services, each on its own listener and gRPC server.
type Storefront struct {
	addrs       map[string]string
	servers     []*grpc.Server
	health      []*drainingHealth // one per server
	orders      *orders.Service   // nil when orders is not served
	catalogOpts []catalog.Option
	usersOpts   []users.Option
	conn        *grpc.ClientConn // orders' catalog client; nil when orders is not served
	serving     sync.WaitGroup   // one per running Serve
	errs        chan error       // Serve failures, buffered for every server
	release     func() error     // closes conn, once
}

// Start listens on the address of every service in opts.Services and serves them until Stop or
// Shutdown. ctx bounds start-up only. Start returns an error, having released whatever it opened,
// when opts names an unknown service or one twice, when orders has no catalog to reach, or
// when a listener cannot be opened.
func Start(ctx context.Context, opts Options) (*Storefront, error) {
	services, err := opts.services()
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var signer *identity.Signer
	if opts.IdentitySecret != "" {
		if signer, err = identity.NewSigner(opts.IdentitySecret); err != nil {
			return nil, fmt.Errorf("server.Start: IdentitySecret: %w", err)
		}
	}

	listeners := make(map[string]net.Listener, len(services))
	closeListeners := func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}
	var lc net.ListenConfig
	for _, name := range services {
		addr := opts.Addrs[name]
		if addr == "" {
			addr = DefaultAddr
		}
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			closeListeners()
			return nil, fmt.Errorf("server.Start: %s: %w", name, err)
		}
		listeners[name] = l
	}

	sf := &Storefront{
		addrs:       make(map[string]string, len(services)),
		errs:        make(chan error, len(services)),
		release:     func() error { return nil },
		catalogOpts: opts.Catalog,
	}
	var ordersOpts []orders.Option
	if signer == nil {
		// No identity is verified, so none reaches the services: they serve every call.
		sf.usersOpts = append(sf.usersOpts, users.WithInsecureNoIdentity())
		ordersOpts = append(ordersOpts, orders.WithInsecureNoIdentity())
	}
	if slices.Contains(services, Orders) {
		target := opts.CatalogTarget
		if l, ok := listeners[Catalog]; ok {
			target = l.Addr().String()
		}
		dialOpts := []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			// A dns:/// target of several catalog instances is balanced per call, not pinned
			// to the first instance that answers.
			grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		}
		if opts.TracerProvider != nil {
			dialOpts = append(dialOpts, tracingDialOption(opts.TracerProvider))
		}
		if signer != nil {
			// Orders calls the catalog for the caller it serves: forward that caller's identity.
			dialOpts = append(dialOpts,
				grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptor(signer, identity.FromContext)),
				grpc.WithChainStreamInterceptor(identity.StreamClientInterceptor(signer, identity.FromContext)))
		}
		conn, err := grpc.NewClient(target, dialOpts...)
		if err != nil {
			closeListeners()
			return nil, fmt.Errorf("server.Start: catalog client for %q: %w", target, err)
		}
		sf.conn = conn
		sf.release = sync.OnceValue(conn.Close)
		sf.orders = orders.New(catalogv1.NewCatalogServiceClient(conn), ordersOpts...)
	}

	serverOpts := []grpc.ServerOption{
		// Bounds on what one client connection may cost: streams open at once (HTTP/2 rapid
		// reset opens and cancels them as fast as it can), and pings, which a client may send
		// at most every 10s, with or without calls open.
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if opts.TracerProvider != nil {
		serverOpts = append(serverOpts, TracingOption(opts.TracerProvider))
	}
	if opts.MaxConnectionAge > 0 || opts.MaxConnectionAgeGrace > 0 {
		serverOpts = append(serverOpts, grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      opts.MaxConnectionAge,
			MaxConnectionAgeGrace: opts.MaxConnectionAgeGrace,
		}))
	}
	for _, name := range services {
		l := listeners[name]
		svcLogger := logger.With(slog.String("service", name))
		fault := opts.Faults[name]
		if !fault.IsZero() {
			svcLogger.WarnContext(ctx, "test faults injected into every call", slog.String("fault", fault.String()))
		}
		srv, hs := newGRPCServer(svcLogger, signer, sf.registrar(name), fault, serverOpts...)
		sf.servers = append(sf.servers, srv)
		sf.health = append(sf.health, hs)
		sf.addrs[name] = l.Addr().String()
		sf.serving.Add(1)
		go func() {
			defer sf.serving.Done()
			if err := srv.Serve(l); err != nil {
				sf.errs <- fmt.Errorf("server: %s: %w", name, err)
			}
		}()
		logger.InfoContext(ctx, "listening", slog.String("service", name), slog.String("addr", sf.addrs[name]))
	}
	return sf, nil
}

// services returns the validated list of services to start, in start order.
func (o Options) services() ([]string, error) {
	requested := o.Services
	if len(requested) == 0 {
		requested = ServiceNames()
	}
	for i, name := range requested {
		if !slices.Contains(ServiceNames(), name) {
			return nil, fmt.Errorf("server.Start: unknown service %q; known: %v", name, ServiceNames())
		}
		if slices.Contains(requested[:i], name) {
			return nil, fmt.Errorf("server.Start: service %q listed twice", name)
		}
	}
	for name := range o.Faults {
		if !slices.Contains(ServiceNames(), name) {
			return nil, fmt.Errorf("server.Start: fault for unknown service %q; known: %v", name, ServiceNames())
		}
	}
	if slices.Contains(requested, Orders) && !slices.Contains(requested, Catalog) && o.CatalogTarget == "" {
		return nil, errors.New("server.Start: orders needs the catalog: start it too or set CatalogTarget")
	}
	var out []string
	for _, name := range ServiceNames() {
		if slices.Contains(requested, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// registrar returns the function that registers the service called name.
func (sf *Storefront) registrar(name string) func(grpc.ServiceRegistrar) {
	return func(r grpc.ServiceRegistrar) {
		switch name {
		case Users:
			usersv1.RegisterUserServiceServer(r, users.New(sf.usersOpts...))
		case Orders:
			ordersv1.RegisterOrderServiceServer(r, sf.orders)
		case Catalog:
			catalogv1.RegisterCatalogServiceServer(r, catalog.New(sf.catalogOpts...))
		}
	}
}

// Addr returns the host:port that the service called name listens on, or "" when it was not
// started.
func (sf *Storefront) Addr(name string) string {
	return sf.addrs[name]
}

// Err returns a channel that receives an error for every server that stopped serving on its
// own, such as after its listener failed. Servers stopped by Stop or Shutdown send nothing.
func (sf *Storefront) Err() <-chan error {
	return sf.errs
}

// maxConcurrentStreams is the most calls one client connection may have open at once.
const maxConcurrentStreams = 1000

// Shutdown stops the services gracefully. First every health service reports NOT_SERVING, at
// once to the clients that watch it (the gateway's health checking does), so they send new
// calls to other instances; then it ends open order watches, stops accepting connections
// (GOAWAY), ends health watches, and waits for in-flight calls to finish. When ctx ends first,
// it closes the remaining connections at once and returns ctx's error. Shutdown and Stop may
// be called more than once.
func (sf *Storefront) Shutdown(ctx context.Context) error {
	for _, hs := range sf.health {
		hs.Shutdown()
	}
	if sf.orders != nil {
		sf.orders.Close()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, srv := range sf.servers {
			wg.Go(srv.GracefulStop)
		}
		for _, hs := range sf.health {
			hs.endWatches()
		}
		wg.Wait()
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		for _, srv := range sf.servers {
			srv.Stop()
		}
		<-done
		err = fmt.Errorf("server.Shutdown: %w", ctx.Err())
	}
	sf.serving.Wait()
	return errors.Join(err, sf.release())
}

// Stop stops the services at once, closing every connection and open call.
func (sf *Storefront) Stop() {
	for _, hs := range sf.health {
		hs.endWatches()
	}
	if sf.orders != nil {
		sf.orders.Close()
	}
	for _, srv := range sf.servers {
		srv.Stop()
	}
	sf.serving.Wait()
	_ = sf.release()
}
