package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/backend"
	"github.com/archway-gateway/archway/gateway/composite"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
)

// Gateway serves the REST API of its backends. Create it with [New]; it is safe for concurrent
// use.
type Gateway struct {
	cfg      *config.Config
	logger   *slog.Logger
	backends *backend.Set
	routes   routeTable
	// sources holds the descriptor set of each service loaded from one, by full name.
	sources map[string]string
	// creates holds the full names of the methods whose successful POST answers 201 Created.
	creates map[string]bool
	mux     *runtime.ServeMux
	// handlers counts the handlers registered on mux (routeMiddleware wraps each once); register
	// compares it with the routes each service declares.
	handlers int
	handler  http.Handler
	// routeChain runs the per-route links of the edge chain for a request whose route matched;
	// see newRouteChain.
	routeChain http.Handler
	edge       *edgeFunctions
	draining   atomic.Bool
	// json is the JSON codec of responses; the WebSocket bridge encodes and decodes with it.
	json *jsonMarshaler
	// grpcGateway is set when api.profile is "grpc-gateway": the API then follows grpc-gateway's
	// observable behaviour where Archway's own differs (docs/compatibility.md).
	grpcGateway bool
	// responseHeaders and responseTrailers name the backend response metadata that reaches
	// clients as headers and as trailers (api.forward_response_headers); see metadata.go.
	responseHeaders, responseTrailers runtime.HeaderMatcherFunc
	// wsOrigins admits the cross-origin pages that may open WebSockets: cors.allowed_origins.
	wsOrigins *edge.CORS
	// bridges counts the WebSockets being bridged. Their connections are hijacked, so
	// http.Server.Shutdown neither waits for them nor closes them: see drainBridges.
	bridges sync.WaitGroup
	// goingAway ends when the bridges still open must close with 1001 (going away):
	// stopBridges ends it, at the drain timeout or on Close.
	goingAway   context.Context
	stopBridges context.CancelFunc
}

// New builds a gateway for cfg: it creates one gRPC connection per backend (connections are
// made lazily, so a backend that is down does not fail New), registers the REST handlers of
// every configured service, and wraps them in the edge chain. cfg must be valid (see
// config.Config.Validate). Call Close to release the connections.
func New(ctx context.Context, cfg *config.Config, opts ...Option) (*Gateway, error) {
	o := options{logger: slog.Default(), services: make(map[string]RegisterFunc)}
	for name, fn := range builtinServices {
		o.services[name] = fn
	}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway.New: %w", err)
	}
	var services []string
	for _, b := range cfg.Backends {
		services = append(services, b.Services...)
	}
	svcs, err := servedServices(cfg, o.services, o.logger)
	if err != nil {
		return nil, fmt.Errorf("gateway.New: %w", err)
	}
	sds := svcs.descriptors
	serveComposite, err := compositeWanted(cfg.Composite.Mode, services, o.logger)
	if err != nil {
		return nil, fmt.Errorf("gateway.New: %w", err)
	}
	if serveComposite {
		csd, err := serviceDescriptors([]string{composite.ServiceName})
		if err != nil {
			return nil, fmt.Errorf("gateway.New: %w", err)
		}
		sds = append(sds, csd...)
	}
	routes, err := routesOf(sds)
	if err != nil {
		return nil, fmt.Errorf("gateway.New: %w", svcs.named(err))
	}
	policies, err := policy.Build(sds, cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway.New: %w", svcs.named(err))
	}
	if err := routes.attachPolicies(policies, o.logger); err != nil {
		return nil, fmt.Errorf("gateway.New: %w", err)
	}
	edgeFuncs, err := newEdgeFunctions(ctx, cfg, &o)
	if err != nil {
		return nil, fmt.Errorf("gateway.New: %w", err)
	}
	edgeFuncs.cache.LogKeys(policies)
	backends, err := backend.Dial(backendSpecs(cfg.Backends, policies),
		backend.WithLogger(o.logger),
		backend.WithRegisterer(edgeFuncs.tel.Registerer()),
		backend.WithDialOptions(append(edgeFuncs.dialOptions(), o.dialOpts...)...))
	if err != nil {
		_ = edgeFuncs.close()
		return nil, fmt.Errorf("gateway.New: %w", err)
	}
	g := &Gateway{cfg: cfg, logger: o.logger, backends: backends, routes: routes, sources: svcs.sources, creates: createMethods(routes), edge: edgeFuncs,
		grpcGateway: cfg.API.GRPCGateway()}
	g.routeChain = g.newRouteChain()
	g.wsOrigins = edge.NewCORS(cfg.CORS)
	g.goingAway, g.stopBridges = context.WithCancel(context.Background())
	g.mux = g.newServeMux()
	for _, b := range backends.All() {
		for _, svc := range b.Services {
			if err := g.register(svc, func() error { return svcs.register[svc](ctx, g.mux, b.Conn) }); err != nil {
				_ = g.Close()
				return nil, fmt.Errorf("gateway.New: %w", err)
			}
		}
	}
	if serveComposite {
		if err := g.registerComposite(ctx); err != nil {
			_ = g.Close()
			return nil, fmt.Errorf("gateway.New: %w", err)
		}
	}
	served, err := g.routesWithHealth(policies)
	if err != nil {
		_ = g.Close()
		return nil, fmt.Errorf("gateway.New: %w", err)
	}
	// /healthz is never shed: an overloaded gateway must not also fail its liveness probe.
	shedder, err := edge.NewShedder(cfg.Listen.MaxInFlightRequests,
		edge.WithShedderRegisterer(edgeFuncs.tel.Registerer()), edge.WithExemptPaths("/healthz"))
	if err != nil {
		_ = g.Close()
		return nil, fmt.Errorf("gateway.New: %w", err)
	}
	g.handler = edge.Chain(refuseAmbiguousFraming(served), edge.Options{
		Logger:    g.logger,
		AccessLog: cfg.Log.AccessLog,
		AccessLogSampling: &edge.Sampling{
			Rate:          cfg.Log.AccessLogSampleRate,
			SlowThreshold: cfg.Log.AccessLogSlowThreshold.D(),
		},
		TrustedProxies: cfg.Listen.TrustedProxyPrefixes(),
		CORS:           cfg.CORS,
		MaxBodyBytes:   cfg.API.MaxRequestBodyBytes,
		BodyBudget:     bodyBudget(cfg.API.MaxTotalRequestBodyBytes),
		MaxJSONDepth:   cfg.API.MaxJSONDepth,
		MaxGRPCTimeout: cfg.API.MaxGRPCTimeout.D(),
		Shedder:        shedder,
		WriteLimits: edge.WriteLimits{
			Response:   cfg.Listen.ResponseWriteTimeout.D(),
			StreamIdle: cfg.Streaming.WriteIdleTimeout.D(),
			Exchange:   cfg.Listen.WriteTimeout.D(),
		},
		// After recover: metrics and the request's trace span, then the global IP filter.
		Before: []func(http.Handler) http.Handler{edgeFuncs.tel.Middleware, edgeFuncs.ipf.GlobalMiddleware},
		// The grpc-gateway profile honours X-HTTP-Method-Override on form-encoded POSTs, as
		// grpc-gateway's mux does (see newServeMux).
		KeepMethodOverride: g.grpcGateway,
	})
	return g, nil
}

// bodyBudget is the budget of api.max_total_request_body_bytes; nil (none) for 0.
func bodyBudget(limit int64) *edge.BodyBudget {
	if limit == 0 {
		return nil
	}
	return edge.NewBodyBudget(limit)
}

// compositeWanted decides, from composite.mode and the configured backend services, whether the
// archway.edge.v1 composites are served; see config.Composite.
func compositeWanted(mode string, services []string, logger *slog.Logger) (bool, error) {
	if mode == "never" {
		return false, nil
	}
	var missing []string
	for _, svc := range composite.Needs() {
		if !slices.Contains(services, svc) {
			missing = append(missing, svc)
		}
	}
	switch {
	case len(missing) == 0:
		return true, nil
	case mode == "always":
		return false, fmt.Errorf("composite.mode is \"always\", but no backend serves %s: configure them, or set composite.mode to \"auto\" or \"never\"",
			strings.Join(missing, ", "))
	default:
		logger.Info("composite endpoints not served: no backend serves their services",
			slog.String("missing", strings.Join(missing, ", ")))
		return false, nil
	}
}

// registerComposite registers the composite endpoints on the mux: in-process handlers of the
// archway.edge.v1 service, which call the backends through the gateway's ClientConns.
func (g *Gateway) registerComposite(ctx context.Context) error {
	svc, err := composite.New(g.backends, composite.Options{Timeout: g.cfg.Composite.Timeout.D(), Logger: g.logger})
	if err != nil {
		return err
	}
	if err := g.register(composite.ServiceName, func() error { return edgev1.RegisterCompositeServiceHandlerServer(ctx, g.mux, svc) }); err != nil {
		return err
	}
	g.logger.Info("composite endpoints served", slog.Duration("timeout", g.cfg.Composite.Timeout.D()))
	return nil
}

// newServeMux sets every grpc-gateway option the gateway relies on, in one place. Where
// api.profile is "grpc-gateway", it leaves grpc-gateway's own behaviour in place instead
// (docs/compatibility.md); each such option says so.
func (g *Gateway) newServeMux() *runtime.ServeMux {
	api := g.cfg.API
	// JSON in and out: unknown body fields rejected unless configured otherwise; fields at their
	// default value omitted, and bodies strict, unless the profile is grpc-gateway's.
	g.json = newJSONMarshaler(api.RejectsUnknownFields())
	if g.grpcGateway {
		g.json.followGRPCGateway()
	}
	// Response metadata: the allowlisted keys under their own names, or under grpc-gateway's
	// (Grpc-Metadata-<key>, Grpc-Trailer-<key>), every key unless the list narrows them.
	g.responseHeaders, g.responseTrailers = g.responseMetadata()
	opts := append(marshalerOptions(g.json),
		// Every error, routing errors included, is a google.rpc.Status with a mapped HTTP status.
		runtime.WithErrorHandler(g.handleError),
		runtime.WithStreamErrorHandler(g.handleStreamError),
		runtime.WithRoutingErrorHandler(g.handleRoutingError),
		// How the path is decoded: by default routed as sent, %2F staying inside its segment
		// (see keepEncodedSlashes).
		runtime.WithUnescapingMode(unescapingModes[api.Unescaping()]),
		// Only allowlisted headers reach backends, and only the chosen metadata comes back; the
		// gateway sets the trailers itself (metadata.go).
		runtime.WithIncomingHeaderMatcher(headerAllowlist(api.ForwardHeaders, g.grpcGateway)),
		runtime.WithOutgoingHeaderMatcher(g.responseHeaders),
		runtime.WithOutgoingTrailerMatcher(refuseAll),
		runtime.WithForwardResponseOption(g.forwardTrailers),
		// Composite responses with degraded parts say so in a header.
		runtime.WithForwardResponseOption(composite.SetPartialHeader),
		// Raw google.api.HttpBody content runs in a sandbox if a browser renders it.
		runtime.WithForwardResponseOption(sandboxRawContent),
		// Per matched route: answer Allow probes, record the route, check the query string.
		runtime.WithMiddlewares(probeMiddleware, g.routeMiddleware),
	)
	if !g.grpcGateway {
		opts = append(opts,
			// A POST is a POST: no method override, no form-encoded POST served as a GET.
			// grpc-gateway honours X-HTTP-Method-Override on a form-encoded POST, and serves
			// such a POST that matches no POST route with the GET route of its path.
			runtime.WithDisablePathLengthFallback(),
			runtime.WithDisableHTTPMethodOverride(),
			// Creates answer 201 (grpc-gateway: 200). After the partial header: created writes
			// the status line.
			runtime.WithForwardResponseOption(g.created),
		)
	}
	return runtime.NewServeMux(opts...)
}

// marshalerOptions registers the gateway's encoders on a ServeMux.
func marshalerOptions(json *jsonMarshaler) []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{
		// JSON in and out.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, json),
		// Server streams as Server-Sent Events for clients that ask for them (see sse.go).
		runtime.WithMarshalerOption(sseContentType, sseMarshaler{json}),
		// Server streams of google.api.HttpBody as their bare data (see httpbody.go).
		runtime.WithMarshalerOption(httpBodyStreamMIME, httpBodyStreamMarshaler{json}),
	}
}

// representation returns the function that names the representation the gateway answers a
// unary call in: the media type of the encoder that grpc-gateway picks for the request, on a
// ServeMux with the gateway's encoders. The response cache keys reads on it rather than on the
// Accept header, so that Accept values the gateway does not tell apart share one entry.
func representation() func(*http.Request) string {
	mux := runtime.NewServeMux(marshalerOptions(newJSONMarshaler(true))...)
	return func(r *http.Request) string {
		_, out := runtime.MarshalerForRequest(mux, r)
		return out.ContentType(nil)
	}
}

// register runs the registration of one service's REST handlers on the mux and checks that it
// registered exactly one handler per route the descriptors declare for the service. A handler
// beyond them serves a binding that no google.api.http option declares (one from a gRPC API
// configuration file, or registered by hand), so the gateway cannot know its method nor, hence,
// its policy: that is an error naming the service and its methods without an option, never a
// route served without its policy.
func (g *Gateway) register(svc string, fn func() error) error {
	before := g.handlers
	if err := fn(); err != nil {
		return fmt.Errorf("register %s: %w", svc, err)
	}
	got, want := g.handlers-before, g.routes.count(svc)
	if got == want {
		return nil
	}
	return fmt.Errorf("register %s: it registered %d REST handlers, but its google.api.http options declare %d routes "+
		"(methods without an option: %s): the gateway reads every route and its policy from google.api.http options, "+
		"so bindings from a gRPC API configuration file (grpc_api_configuration) or handlers registered by hand cannot be served; "+
		"declare each binding with a google.api.http option",
		svc, got, want, strings.Join(unboundMethods(svc), ", "))
}

// unescapingModes maps api.path_unescaping onto grpc-gateway's modes.
var unescapingModes = map[string]runtime.UnescapingMode{
	"all_except_slash": runtime.UnescapingModeAllExceptSlash,
	"legacy":           runtime.UnescapingModeLegacy,
}

// encodedSlash escapes the % of every encoded slash in a raw path.
var encodedSlash = strings.NewReplacer("%2F", "%252F", "%2f", "%252f")

// keepEncodedSlashes serves next with every %2F of the path escaped once more, for
// api.path_unescaping "all_except_slash". The mux then routes on the path as sent, but it decodes
// every escape of a single-segment variable ({id}, {name=users/*}), %2F included, as
// google.api.http prescribes; escaped once more, a %2F reaches the backend as "%2F", never as a
// slash that the client did not send as one.
func keepEncodedSlashes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/url sets RawPath whenever the path holds an escape it would not write itself,
		// %2F among them.
		raw := r.URL.RawPath
		if raw == "" || !strings.Contains(raw, "%2F") && !strings.Contains(raw, "%2f") {
			next.ServeHTTP(w, r)
			return
		}
		u := *r.URL
		u.RawPath = encodedSlash.Replace(raw)
		path, err := url.PathUnescape(u.RawPath)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		u.Path = path
		r = r.WithContext(r.Context())
		r.URL = &u
		next.ServeHTTP(w, r)
	})
}

// routeMiddleware records the matched route and gRPC method for the access log, puts the route's
// policy in the request context and runs the per-route chain (newRouteChain). A handler without
// a route in the table is never run: register refuses such handlers at start-up, and should one
// be reached all the same, the request fails closed with INTERNAL.
//
// The mux wraps every registered handler, which serves one HTTP method and one pattern, in a
// call of its own to this middleware, so the route is looked up on the handler's first request
// and kept: rendering the pattern costs a few allocations that no later request needs to
// repeat. (Under the grpc-gateway profile a handler also serves the form-encoded POSTs that fall
// back to its GET route; the route is looked up again whenever the method changes.)
func (g *Gateway) routeMiddleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	g.handlers++
	var matched atomic.Pointer[routeMatch]
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		m := matched.Load()
		if m == nil || m.httpMethod != r.Method {
			m = g.matchRoute(r)
			matched.Store(m)
		}
		rt := m.route
		if s := edge.StateFrom(r.Context()); s != nil {
			s.SetRoute(m.pattern)
			if rt != nil {
				s.SetGRPCMethod(rt.policy.Method)
			}
		}
		if rt == nil {
			g.logger.LogAttrs(r.Context(), slog.LevelError, "request refused: its handler has no route, hence no policy",
				slog.String("request_id", edge.RequestIDFrom(r.Context())),
				slog.String("http_method", r.Method), slog.String("pattern", m.pattern))
			g.handleError(r.Context(), g.mux, nil, w, r, status.Error(codes.Internal, "no route for the matched handler"))
			return
		}
		ctx := policy.NewContext(r.Context(), rt.policy)
		ctx = context.WithValue(ctx, muxCallKey{}, muxCall{route: rt, next: next, params: params})
		// The route's timeout bounds the whole per-route chain and the backend call (a client's
		// shorter Grpc-Timeout still wins, since grpc-gateway applies it on top). Set here, it
		// costs no second copy of the request.
		if rt.policy.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, rt.policy.Timeout)
			defer cancel()
		}
		g.routeChain.ServeHTTP(w, r.WithContext(ctx))
	}
}

// muxCall is the rest of grpc-gateway's handling of a matched route: decode, call the backend,
// encode. The per-route chain ends by running it.
type muxCall struct {
	route  *route
	next   runtime.HandlerFunc
	params map[string]string
}

type muxCallKey struct{}

// newRouteChain builds the links that need the matched route's policy, which routeMiddleware
// has put in the request context together with the route's deadline. The order of the links is
// written down here, outermost first:
//
//  1. In-flight gauge of the route.
//  2. IP filter class of the route, after the global filter that ran before routing.
//  3. Authentication: verify the bearer token or API key, record the identity, check scopes.
//  4. Credentials dropped: backends get the verified identity, signed, never the client's token.
//  5. Rate limit, per client (the identity set by 3, else the address) and rate-limit class.
//  6. Response cache: cached reads are answered here (per caller unless shared, which needs
//     the identity set by 3), concurrent misses share one backend call, and successful writes
//     invalidate the reads they change. Uncached answers of authenticated routes, and to
//     callers who authenticated, are marked private, no-store.
//  7. Query check (callRoute): query parameters that would be dropped are rejected, after
//     authentication so that anonymous callers learn nothing of a protected method's input.
//     Then the mux decodes the request and calls the backend.
func (g *Gateway) newRouteChain() http.Handler {
	h := http.Handler(http.HandlerFunc(g.callRoute))
	h = g.edge.cache.Middleware(h)
	h = g.edge.limiter.Middleware(h)
	h = dropCredentials(h, g.cfg.Authn.APIKeyHeader)
	h = g.edge.authn.Middleware(h)
	h = g.edge.ipf.Middleware(h)
	return g.edge.tel.RouteMiddleware(h)
}

// dropCredentials removes the client's credentials from the request once they are verified:
// grpc-gateway would forward Authorization to the backend as metadata.
func dropCredentials(next http.Handler, apiKeyHeader string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Authorization")
		r.Header.Del(apiKeyHeader)
		next.ServeHTTP(w, r)
	})
}

// callRoute ends the per-route chain: it rejects query parameters that would be dropped
// silently, gives server streams a plain error when they fail at once (or serves them as
// Server-Sent Events), bridges client and bidirectional streams over WebSocket on GET
// (websocket.go) and reads them as NDJSON on other methods (requeststream.go), and runs the
// rest of the mux's handling.
func (g *Gateway) callRoute(w http.ResponseWriter, r *http.Request) {
	call, _ := r.Context().Value(muxCallKey{}).(muxCall)
	rt := call.route
	if err := g.checkParameters(r, call); err != nil {
		g.handleError(r.Context(), g.mux, nil, w, r, err)
		return
	}
	if rt.method.IsStreamingClient() {
		if r.Method == http.MethodGet {
			g.serveWebSocket(w, r, rt)
		} else {
			g.serveRequestStream(w, r, rt)
		}
		return
	}
	// grpc-gateway decodes an HttpBody request from JSON like any other message.
	if rt.bodyIsHTTPBody() && !g.grpcGateway {
		asRawBody(r)
	}
	if rt.method.IsStreamingServer() {
		if s := edge.StateFrom(r.Context()); s != nil {
			s.StreamResponse()
		}
		// grpc-gateway writes a stream of HttpBody as each message's data followed by a newline,
		// and an error after the first message as its in-stream error object; Archway sends the
		// bare data and cuts the connection on such an error (httpbody.go).
		if rt.streamsHTTPBody() && !g.grpcGateway {
			serveRawStream(w, r, call)
			return
		}
		if acceptsEventStream(r.Header) {
			g.serveEventStream(w, r, call)
			return
		}
		if !g.grpcGateway {
			// grpc-gateway answers a stream that fails before its first message with its
			// in-stream error object; Archway with a plain Status.
			w = &streamWriter{ResponseWriter: w}
		}
	}
	call.next(w, withTrailers(r), call.params)
}

// checkParameters returns an INVALID_ARGUMENT status naming the first path or query parameter
// that the mux would not decode into the request faithfully: a value that is not UTF-8 (a proto
// string cannot hold it, so the call to the backend could not even be encoded), a value its
// field's type cannot hold (route.checkQueryValues, which also turns FieldMask values into proto
// names) and, when unknown query parameters are rejected
// (config.API.RejectsUnknownQueryParameters), a query parameter that would be dropped (see
// route.checkQuery).
func (g *Gateway) checkParameters(r *http.Request, call muxCall) error {
	if name, ok := firstInvalidPathUTF8(call.params); ok {
		return badRequest("path parameter", name, invalidUTF8)
	}
	if r.URL.RawQuery == "" && len(r.PostForm) == 0 {
		return nil
	}
	query := r.URL.Query()
	// A form-encoded body that the mux parsed (the method override and the POST to GET fallback
	// of the grpc-gateway profile) is read as query parameters too.
	values := query
	if len(r.PostForm) > 0 {
		values = maps.Clone(query)
		for key, vs := range r.PostForm {
			values[key] = append(values[key], vs...)
		}
	}
	if key, ok := firstInvalidUTF8(values); ok {
		return badRequest("query parameter", key, invalidUTF8)
	}
	// The query string alone: checkQueryValues may rewrite it.
	if err := call.route.checkQueryValues(r, query); err != nil {
		return err
	}
	if g.cfg.API.RejectsUnknownQueryParameters() {
		return call.route.checkQuery(values)
	}
	return nil
}

// firstInvalidUTF8 returns the first key in byte order (whatever the map's order, so that the
// same request always gets the same answer) whose name or one of whose values is not UTF-8.
func firstInvalidUTF8(values url.Values) (string, bool) {
	bad, found := "", false
	for key, vs := range values {
		if (!found || key < bad) && (!utf8.ValidString(key) || slices.ContainsFunc(vs, notUTF8)) {
			bad, found = key, true
		}
	}
	return bad, found
}

// firstInvalidPathUTF8 is firstInvalidUTF8 for path parameters.
func firstInvalidPathUTF8(params map[string]string) (string, bool) {
	bad, found := "", false
	for name, v := range params {
		if (!found || name < bad) && notUTF8(v) {
			bad, found = name, true
		}
	}
	return bad, found
}

func notUTF8(s string) bool { return !utf8.ValidString(s) }

// invalidUTF8 is the reason given for a parameter whose value is not UTF-8.
const invalidUTF8 = "the value is not valid UTF-8 (after percent-decoding)"

// serveEventStream runs a server stream as Server-Sent Events (see sse.go).
func (g *Gateway) serveEventStream(w http.ResponseWriter, r *http.Request, call muxCall) {
	// grpc-gateway picks the response marshaler by the exact Accept value.
	r.Header.Set("Accept", sseContentType)
	sw := newSSEWriter(w)
	stop := sw.heartbeat(g.cfg.Streaming.SSEHeartbeat.D())
	call.next(sw, r, call.params)
	stop()
	sw.finish(r.Context())
}

// routeMatch is what routeMiddleware knows about the handler a request reached: its method, the
// pattern grpc-gateway matched, and the route declared for them (nil when none is).
type routeMatch struct {
	httpMethod string
	pattern    string
	route      *route
}

func (g *Gateway) matchRoute(r *http.Request) *routeMatch {
	m := &routeMatch{httpMethod: r.Method}
	if p, ok := runtime.HTTPPattern(r.Context()); ok {
		m.pattern = p.String()
	}
	if rt, ok := g.routes.lookup(r.Method, m.pattern); ok {
		m.route = rt
	} else if g.grpcGateway && r.Method == http.MethodPost {
		// Under the grpc-gateway profile the mux serves a form-encoded POST that no POST route
		// matches with the GET route of its path (its "path length fallback"), without changing
		// the request's method.
		if rt, ok := g.routes.lookup(http.MethodGet, m.pattern); ok {
			m.route = rt
		}
	}
	return m
}

// headerAllowlist builds grpc-gateway's incoming header matcher: it passes only the listed
// names, and a client's "Grpc-Metadata-X" header when X is listed. A listed header passes under
// its own name, except under the grpc-gateway profile (grpcGateway) one that grpc-gateway
// forwards as "grpcgateway-<name>" (its "permanent" HTTP headers, such as Accept-Language), which
// passes under that name.
func headerAllowlist(names []string, grpcGateway bool) runtime.HeaderMatcherFunc {
	allowed := make(map[string]bool, len(names))
	for _, n := range names {
		allowed[http.CanonicalHeaderKey(n)] = true
	}
	return func(key string) (string, bool) {
		key = http.CanonicalHeaderKey(key)
		// The request id always reaches the backend, and only as the edge chain set it
		// (edge.RequestID leaves the request one X-Request-Id): never from a Grpc-Metadata-
		// header, which would give the backend a second value.
		if key == edge.HeaderRequestID {
			return requestIDKey, true
		}
		rest, prefixed := strings.CutPrefix(key, runtime.MetadataHeaderPrefix)
		if prefixed {
			key = http.CanonicalHeaderKey(rest)
			if key == edge.HeaderRequestID {
				return "", false
			}
		}
		if !allowed[key] {
			return "", false
		}
		if grpcGateway && !prefixed {
			if name, ok := runtime.DefaultHeaderMatcher(key); ok {
				return strings.ToLower(name), true
			}
		}
		return strings.ToLower(key), true
	}
}

// requestIDKey is the metadata key that carries the request id to backends.
const requestIDKey = "x-request-id"

// createMethods finds the AIP-style create methods: named Create… and bound to POST.
func createMethods(routes routeTable) map[string]bool {
	m := make(map[string]bool)
	for _, r := range routes {
		if r.httpMethod == http.MethodPost && strings.HasPrefix(string(r.method.Name()), "Create") {
			m[policy.FullMethodName(r.method)] = true
		}
	}
	return m
}

// created answers a successful create with 201 Created and, when the new resource has a
// resource name ("users/ada-lovelace") that a GET route serves under the route's version prefix,
// a Location header with that path.
func (g *Gateway) created(ctx context.Context, w http.ResponseWriter, resp proto.Message) error {
	if resp == nil {
		return nil
	}
	method, ok := runtime.RPCMethod(ctx)
	if !ok || !g.creates[method] {
		return nil
	}
	if fd := resp.ProtoReflect().Descriptor().Fields().ByName("name"); fd != nil && fd.Kind() == protoreflect.StringKind {
		if name := resp.ProtoReflect().Get(fd).String(); name != "" {
			pattern, _ := runtime.HTTPPathPattern(ctx)
			if loc := versionPrefix(pattern) + "/" + name; g.routable(ctx, http.MethodGet, loc) {
				w.Header().Set("Location", loc)
			}
		}
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// versionPrefix returns the first segment of a route pattern, "/v1" for "/v1/users".
func versionPrefix(pattern string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(pattern, "/"), "/")
	if seg == "" || strings.Contains(seg, "{") {
		return ""
	}
	return "/" + seg
}

// routesWithHealth serves /healthz and /readyz next to the API, and, when docs.enabled, the
// OpenAPI documents under /openapi/, fitted to the services and policies served, and the docs
// page at docs.path.
func (g *Gateway) routesWithHealth(policies *policy.Table) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle("/healthz", getOnly(http.HandlerFunc(g.serveHealthz)))
	mux.Handle("/readyz", getOnly(http.HandlerFunc(g.serveReadyz)))
	if g.cfg.Docs.Enabled {
		docs, err := openAPIDocuments(policies, g.cfg.Docs.OpenAPI, g.grpcGateway)
		if err != nil {
			return nil, err
		}
		page, err := docsPage(g.cfg.Docs.Path, g.cfg.Docs.OpenAPI.Title, docs)
		if err != nil {
			return nil, err
		}
		index, err := newAPIIndex(docs, g.routes, g.sources)
		if err != nil {
			return nil, err
		}
		mux.Handle(openAPIPrefix, getOnly(withIndex(index, serveDocuments(docs))))
		mux.Handle(g.cfg.Docs.Path, getOnly(page))
		mux.Handle(g.cfg.Docs.Path+"/", getOnly(page))
	}
	if g.cfg.API.Unescaping() == "all_except_slash" {
		mux.Handle("/", keepEncodedSlashes(g.mux))
	} else {
		mux.Handle("/", g.mux)
	}
	return mux, nil
}

// Handler returns the gateway's HTTP handler: the edge chain, the API and the health endpoints.
func (g *Gateway) Handler() http.Handler { return g.handler }

// AdminHandler returns the handler for the admin listener: detailed readiness, the gateway's
// view of its backends and stores (/statusz), metrics, and pprof when admin.pprof is on.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/healthz", getOnly(http.HandlerFunc(g.serveHealthz)))
	mux.Handle("/readyz", getOnly(http.HandlerFunc(g.serveReadyzDetail)))
	mux.Handle("/statusz", getOnly(http.HandlerFunc(g.serveStatusz)))
	mux.Handle("/metrics", getOnly(g.edge.tel.MetricsHandler()))
	if g.cfg.Admin.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Close releases the backend connections.
func (g *Gateway) Close() error {
	g.stopBridges()
	return errors.Join(g.backends.Close(), g.edge.close())
}

// Run serves the API on cfg.Listen.Address (over HTTPS when listen.tls is set; then also the
// redirects to HTTPS on cfg.Listen.RedirectAddress, when set), and the admin endpoints on
// cfg.Admin.Address when enabled, until ctx ends; then it shuts down gracefully: readiness
// turns false, listeners close, and in-flight requests get up to cfg.Shutdown.DrainTimeout to
// finish.
func (g *Gateway) Run(ctx context.Context) error {
	var lc net.ListenConfig
	var lns Listeners
	closeAll := func() {
		for _, ln := range []net.Listener{lns.API, lns.Admin, lns.Redirect} {
			if ln != nil {
				_ = ln.Close()
			}
		}
	}
	var err error
	if lns.API, err = lc.Listen(ctx, "tcp", g.cfg.Listen.Address); err != nil {
		return fmt.Errorf("gateway.Run: listen: %w", err)
	}
	if g.cfg.Admin.Enabled {
		if lns.Admin, err = lc.Listen(ctx, "tcp", g.cfg.Admin.Address); err != nil {
			closeAll()
			return fmt.Errorf("gateway.Run: admin listen: %w", err)
		}
	}
	if g.cfg.Listen.RedirectAddress != "" {
		if lns.Redirect, err = lc.Listen(ctx, "tcp", g.cfg.Listen.RedirectAddress); err != nil {
			closeAll()
			return fmt.Errorf("gateway.Run: redirect listen: %w", err)
		}
	}
	return g.ServeListeners(ctx, lns)
}

// Serve is Run on listeners the caller opened; adminLn may be nil. It closes both.
func (g *Gateway) Serve(ctx context.Context, apiLn, adminLn net.Listener) error {
	return g.ServeListeners(ctx, Listeners{API: apiLn, Admin: adminLn})
}

// ServeListeners is Run on listeners the caller opened, the redirect listener included. It
// closes them all.
func (g *Gateway) ServeListeners(ctx context.Context, lns Listeners) error {
	servers, err := g.newServers(lns)
	if err != nil {
		for _, ln := range []net.Listener{lns.API, lns.Admin, lns.Redirect} {
			if ln != nil {
				_ = ln.Close()
			}
		}
		return fmt.Errorf("gateway.Serve: %w", err)
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		g.logger.Info("listening", slog.String("listener", s.name), slog.String("addr", s.ln.Addr().String()), slog.Bool("tls", s.tls))
		go func() {
			if err := s.serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("gateway.Serve: %s listener: %w", s.name, err)
				return
			}
			errc <- nil
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	// Readiness turns false first; the listeners stay open for shutdown.ready_delay so that load
	// balancers notice and stop sending, then they close and in-flight requests drain.
	g.draining.Store(true)
	if delay := g.cfg.Shutdown.ReadyDelay.D(); delay > 0 && serveErr == nil {
		g.logger.Info("not ready; waiting before closing the listeners", slog.Duration("ready_delay", delay))
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case serveErr = <-errc:
			t.Stop()
		}
	}
	g.logger.Info("shutting down", slog.Duration("drain_timeout", g.cfg.Shutdown.DrainTimeout.D()))
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Shutdown.DrainTimeout.D())
	defer cancel()
	var errs []error
	for _, s := range slices.Backward(servers) {
		if err := s.srv.Shutdown(drainCtx); err != nil {
			// Requests still open at the drain timeout (typically server streams) are cut;
			// that is the configured outcome, not a failure of the process.
			g.logger.Warn("drain timeout reached; closing the remaining connections", slog.Any("error", err))
			_ = s.srv.Close()
		}
	}
	g.drainBridges(drainCtx)
	for range len(servers) - boolToInt(serveErr != nil) {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	g.logger.Info("stopped")
	return errors.Join(append([]error{serveErr}, errs...)...)
}

// bridgeCloseTimeout bounds the wait for the bridged WebSockets to close once told to: their
// close handshake, and the end of their backend streams.
const bridgeCloseTimeout = 10 * time.Second

// drainBridges gives the bridged WebSockets what is left of the drain timeout (ctx) to end by
// themselves, then closes those still open with 1001 (going away), so that their clients
// reconnect to another replica, and waits for them to finish closing.
func (g *Gateway) drainBridges(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		g.bridges.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	g.stopBridges()
	select {
	case <-done:
	case <-time.After(bridgeCloseTimeout):
		g.logger.Warn("bridged WebSockets still closing after the drain timeout", slog.Duration("waited", bridgeCloseTimeout))
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkTimeout bounds how long a readiness check waits for a backend connection to settle, and
// the Redis PING of /statusz.
func (g *Gateway) checkTimeout() time.Duration { return g.cfg.Readiness.CheckTimeout.D() }
