package config

import "time"

// Config is the root of archway.yaml.
type Config struct {
	// Listen configures the public HTTP listener that serves the REST/JSON
	// API.
	Listen Listen `yaml:"listen"`

	// Admin configures the loopback listener for operational endpoints.
	Admin Admin `yaml:"admin"`

	// Log configures the gateway's own logs and the access log.
	Log Log `yaml:"log"`

	// API configures how REST/JSON requests are translated to gRPC.
	API API `yaml:"api"`

	// APIs lists the APIs served from descriptor sets, without generated
	// code linked into the gateway. By default the list is empty: only the
	// services linked in are served.
	APIs []APIEntry `yaml:"apis"`

	// Backends lists the gRPC servers the gateway forwards to, and which
	// services each one serves. By default the list is empty.
	Backends []Backend `yaml:"backends"`

	// Composite configures the composite endpoints that the gateway serves
	// itself (archway.edge.v1).
	Composite Composite `yaml:"composite"`

	// Readiness configures the /readyz check of the backends.
	Readiness Readiness `yaml:"readiness"`

	// Shutdown configures graceful shutdown.
	Shutdown Shutdown `yaml:"shutdown"`

	// Policy supplies route policy defaults and per-method overrides.
	Policy Policy `yaml:"policy"`

	// RateLimit configures client rate limiting.
	RateLimit RateLimit `yaml:"rate_limit"`

	// IPFilter configures client IP filtering.
	IPFilter IPFilter `yaml:"ip_filter"`

	// Cache configures the response cache.
	Cache Cache `yaml:"cache"`

	// CORS configures cross-origin resource sharing for browser clients.
	CORS CORS `yaml:"cors"`
	// Telemetry configures metrics and tracing.
	Telemetry Telemetry `yaml:"telemetry"`

	// Redis configures the Redis server shared by the gateway replicas.
	Redis Redis `yaml:"redis"`

	// Authn configures caller authentication: bearer tokens, API keys, and the identity
	// forwarded to backends.
	Authn Authn `yaml:"authn"`

	// Docs configures the published OpenAPI documents and the interactive docs page.
	Docs Docs `yaml:"docs"`

	// Streaming configures Server-Sent Events and the WebSocket bridge of
	// streaming RPCs.
	Streaming Streaming `yaml:"streaming"`

	// Insecure holds the switches that let `archway serve` start with an
	// unsafe setting. By default all off.
	Insecure Insecure `yaml:"insecure"`
}

// Listen configures the public HTTP listener and the limits of its
// net/http server.
type Listen struct {
	// Address is the TCP address to listen on, as host:port; an empty host
	// listens on every interface, port 0 picks a free port. By default
	// ":8080".
	Address string `yaml:"address"`

	// ReadHeaderTimeout bounds the time to read a request's headers. Zero
	// means no limit. By default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`

	// ReadTimeout bounds the time to read a whole request, body included.
	// Zero means no limit. By default 60s.
	ReadTimeout Duration `yaml:"read_timeout"`

	// WriteTimeout bounds the time to write a response that is not a stream,
	// counted from the end of its request's headers. Zero means no limit. By
	// default 0: response_write_timeout and streaming.write_idle_timeout
	// bound the writes of every response instead, without a limit on the
	// length of a stream.
	WriteTimeout Duration `yaml:"write_timeout"`

	// ResponseWriteTimeout bounds the time to write a response that is not a
	// stream, from its first byte to its last, so that a client that stops
	// reading frees its request (and its place among max_in_flight_requests)
	// when it runs out. Zero means no limit. By default 60s.
	ResponseWriteTimeout Duration `yaml:"response_write_timeout"`

	// IdleTimeout bounds how long a keep-alive connection waits for its next
	// request. Zero means no limit. By default 120s.
	IdleTimeout Duration `yaml:"idle_timeout"`

	// MaxHeaderBytes caps the size of a request's headers, in bytes. By
	// default 65536 (64 KiB).
	MaxHeaderBytes int `yaml:"max_header_bytes"`

	// TrustedProxies lists the proxies, as CIDRs or single addresses (IPv4
	// or IPv6), whose X-Forwarded-For header is believed: the client's
	// address is the peer address, unless the peer is one of them. By
	// default empty: X-Forwarded-For is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`

	// TLS turns the listener into an HTTPS listener (HTTP/2 and HTTP/1.1).
	// By default off: plain HTTP.
	TLS TLS `yaml:"tls"`

	// RedirectAddress, when set, is the TCP address of a plain-HTTP
	// listener that answers every request with a 308 redirect to the same
	// URL over HTTPS. Requires listen.tls. By default empty: no such
	// listener.
	RedirectAddress string `yaml:"redirect_address"`

	// RedirectPort is the port the redirects point to. By default 0: the
	// port of listen.address (left out of the URL when it is 443).
	RedirectPort int `yaml:"redirect_port"`

	// HTTP2MaxConcurrentStreams caps the streams one HTTP/2 client
	// connection may have open at once. By default 100.
	HTTP2MaxConcurrentStreams int `yaml:"http2_max_concurrent_streams"`

	// MaxInFlightRequests caps the requests the listener serves at once,
	// streams included; a request beyond it is answered at once with 503
	// and Retry-After rather than queued. By default 10000.
	MaxInFlightRequests int `yaml:"max_in_flight_requests"`
}

// Admin configures the admin listener, which serves /healthz, /readyz,
// /statusz, metrics and, when asked for, pprof. It must not be exposed
// publicly.
type Admin struct {
	// Enabled turns the admin listener on. By default true.
	Enabled bool `yaml:"enabled"`

	// Address is the TCP address of the admin listener, as host:port. By
	// default "127.0.0.1:9901" (loopback only). `archway serve` refuses a
	// host that is not loopback unless insecure.admin_off_loopback is set.
	Address string `yaml:"address"`

	// Pprof serves the Go runtime's profiles under /debug/pprof/ on the
	// admin listener. By default false: profiles reveal the program's
	// internals and a CPU profile costs CPU, so turn it on only to debug.
	Pprof bool `yaml:"pprof"`
}

// Log configures logging.
type Log struct {
	// Format is the log encoding: "json" or "text". By default "text".
	Format string `yaml:"format"`

	// Level is the minimum level logged: "debug", "info", "warn" or "error".
	// By default "info".
	Level string `yaml:"level"`

	// AccessLog logs one line per HTTP request. By default true.
	AccessLog bool `yaml:"access_log"`

	// AccessLogSampleRate is the fraction, from 0 to 1, of successful and
	// fast requests that the access log records; failed requests (status
	// 400 or more) and slow ones are always recorded. By default 1: every
	// request.
	AccessLogSampleRate float64 `yaml:"access_log_sample_rate"`

	// AccessLogSlowThreshold is the latency from which a request is slow,
	// and so always recorded by the access log. Zero means no request
	// counts as slow. By default 1s.
	AccessLogSlowThreshold Duration `yaml:"access_log_slow_threshold"`

	// FlushInterval is how long a log record may wait in the write buffer:
	// records are written in batches, at this interval or when the buffer
	// fills, and at once from level warn up. Zero writes every record
	// through at once. By default 100ms.
	FlushInterval Duration `yaml:"flush_interval"`
}

// API configures the REST/JSON side of the gateway.
type API struct {
	// Profile selects whose observable behaviour the API follows where
	// Archway deliberately differs from grpc-gateway: [ProfileArchway] or
	// [ProfileGRPCGateway] (see docs/compatibility.md for every difference
	// it switches). The settings of this section that are set explicitly
	// win over the profile. By default "archway".
	Profile Profile `yaml:"profile"`

	// UnknownQueryParameters decides what happens to a query parameter that
	// matches no field of the request message: "reject" answers 400
	// INVALID_ARGUMENT, "ignore" drops it. By default, empty: the profile
	// decides, "reject" under "archway" and "ignore" under "grpc-gateway"
	// (see [API.RejectsUnknownQueryParameters]).
	UnknownQueryParameters Strictness `yaml:"unknown_query_parameters"`

	// UnknownFields decides what happens to a JSON body field that matches no
	// field of the request message: "reject" answers 400 INVALID_ARGUMENT,
	// "ignore" drops it. By default, empty: the profile decides, "reject"
	// under "archway" and "ignore" under "grpc-gateway" (see
	// [API.RejectsUnknownFields]).
	UnknownFields Strictness `yaml:"unknown_fields"`

	// MaxRequestBodyBytes caps the size of a request body, in bytes; a larger
	// body is answered with 413. Must be positive. By default 4194304 (4 MiB).
	MaxRequestBodyBytes int64 `yaml:"max_request_body_bytes"`

	// MaxTotalRequestBodyBytes bounds the bytes of all the request bodies
	// that the gateway holds at once (each body is held, once decoded, until
	// its backend call is made). A request whose body does not fit in what
	// the others leave is answered with 503 and Retry-After. Zero means no
	// bound; otherwise it must be at least max_request_body_bytes. By default
	// 67108864 (64 MiB, sixteen bodies of the largest size).
	MaxTotalRequestBodyBytes int64 `yaml:"max_total_request_body_bytes"`

	// ForwardHeaders lists the request headers forwarded to backends as gRPC
	// metadata. They are also the only names X accepted in a client's
	// "Grpc-Metadata-X" headers. Each must be a header name that gRPC
	// metadata can carry and that gRPC or HTTP do not reserve. [Load] and
	// [Parse] store them canonicalised (as by http.CanonicalHeaderKey). By
	// default empty: no header is forwarded.
	ForwardHeaders []string `yaml:"forward_headers"`

	// ForwardResponseHeaders lists the backend response metadata keys
	// returned to the client, on successes and errors alike: header metadata
	// as HTTP headers, trailer metadata as HTTP trailers when the request
	// has "TE: trailers". Under the "archway" profile they keep their names;
	// under "grpc-gateway" they are named "Grpc-Metadata-<key>" (headers) and
	// "Grpc-Trailer-<key>" (trailers), as grpc-gateway names them. [Load] and
	// [Parse] store them in lower case, as gRPC metadata keys are. By
	// default empty: under "archway" no metadata is returned, under
	// "grpc-gateway" every key is.
	ForwardResponseHeaders []string `yaml:"forward_response_headers"`

	// MaxGRPCTimeout caps the deadline a client may ask for with the
	// Grpc-Timeout header: a longer one is lowered to the cap. A malformed
	// Grpc-Timeout is answered with 400. Must be positive. By default 60s.
	MaxGRPCTimeout Duration `yaml:"max_grpc_timeout"`

	// MaxJSONDepth caps the nesting of objects and arrays in a request
	// body; a deeper body is answered with 400 before it is decoded. Must
	// be positive. By default 100.
	MaxJSONDepth int `yaml:"max_json_depth"`

	// PathUnescaping decides how the percent-encoded characters of the URL
	// path are decoded. "all_except_slash" routes on the path as sent, so
	// that an encoded slash (%2F) stays inside its segment, and decodes every
	// other escape in the values of path variables; %2F reaches the backend
	// still encoded, never as a slash. "legacy" is grpc-gateway's default:
	// the whole path is decoded before routing, so %2F separates segments.
	// By default empty: the profile decides ("all_except_slash" under
	// "archway", "legacy" under "grpc-gateway"; see [API.Unescaping]).
	PathUnescaping string `yaml:"path_unescaping"`
}

// Backend is one gRPC server (or set of servers behind one target) and the
// services it serves.
type Backend struct {
	// Name identifies the backend in logs, metrics and environment
	// overrides. Required, unique, made of [a-z0-9-].
	Name string `yaml:"name"`

	// Address is the gRPC target to dial: "host:port", "dns:///host:port"
	// (every resolved address, balanced round-robin) or "unix:///path".
	// Required unless addresses is set; the two exclude each other.
	Address string `yaml:"address"`

	// Addresses lists the backend's instances as host:port, a static list
	// balanced round-robin, instead of address. By default empty.
	Addresses []string `yaml:"addresses"`

	// Services lists the fully-qualified proto services the backend serves,
	// such as "storefront.users.v1.UserService". Required, at least one; a
	// service may be served by only one backend.
	Services []string `yaml:"services"`

	// MaxReconnectBackoff caps the delay between reconnection attempts to
	// the backend. Must be positive. By default 5s.
	MaxReconnectBackoff Duration `yaml:"max_reconnect_backoff"`

	// TLS configures TLS, and client certificates, towards the backend.
	// By default the backend is dialled in plaintext.
	TLS BackendTLS `yaml:"tls"`

	// HealthCheck configures gRPC client health checking of each instance.
	HealthCheck BackendHealthCheck `yaml:"health_check"`

	// Retry configures the retries of calls to idempotent methods.
	Retry BackendRetry `yaml:"retry"`

	// CircuitBreaker configures the backend's circuit breaker.
	CircuitBreaker BackendCircuitBreaker `yaml:"circuit_breaker"`

	// MaxInFlight caps the calls and open streams to the backend at once;
	// a call beyond it is answered 503 with Retry-After at once instead of
	// queuing. Zero means no limit. By default 1000.
	MaxInFlight int `yaml:"max_in_flight"`

	// MaxConcurrentCalls caps the calls and open streams on the connection
	// to each instance of the backend; a call that no ready instance has
	// room for is answered 503 with Retry-After at once, instead of waiting
	// inside the gRPC client for one of the HTTP/2 streams the instance
	// allows (its MAX_CONCURRENT_STREAMS). Keep it below that number (one
	// stream goes to the health check). Must be positive. By default 100.
	MaxConcurrentCalls int `yaml:"max_concurrent_calls"`

	// StreamShare is the share of max_concurrent_calls that streaming calls
	// may hold on an instance; the rest is kept for unary calls, so that
	// long-lived streams cannot take all of it. More than 0, at most 1 (no
	// reserve). By default 0.5.
	StreamShare float64 `yaml:"stream_share"`
}

// Composite configures the archway.edge.v1 composite endpoints, which call
// several backends for one request (see docs/composites.md).
type Composite struct {
	// Mode decides whether the composite endpoints are served. "auto" serves
	// them when a backend serves every service they call (users, orders and
	// catalog) and leaves them out otherwise; "always" serves them and
	// refuses to start when one of those services has no backend; "never"
	// leaves them out. By default "auto".
	Mode string `yaml:"mode"`

	// Timeout is the total time budget of one composite request: every
	// backend call it makes gets at most what is left of it, and optional
	// parts still running when it is spent are reported as degraded. Must be
	// positive. By default 2s.
	Timeout Duration `yaml:"timeout"`
}

// Readiness configures the readiness check of /readyz: the gateway is ready
// when every backend has an instance that takes calls (connected and, with
// health checking on, reporting SERVING), as its connection watches it; the
// check itself calls no backend.
type Readiness struct {
	// CheckTimeout bounds how long a readiness check waits for an idle or
	// connecting backend connection to settle, and the Redis PING of the
	// admin /statusz. Must be positive. By default 1s.
	CheckTimeout Duration `yaml:"check_timeout"`
}

// Shutdown configures graceful shutdown.
type Shutdown struct {
	// DrainTimeout bounds how long in-flight requests may take to finish
	// once shutdown starts; requests still running then are cut off. Zero
	// means no draining. By default 15s.
	DrainTimeout Duration `yaml:"drain_timeout"`

	// ReadyDelay is how long the gateway keeps serving, with /readyz
	// answering 503, between the shutdown signal and closing its
	// listeners, so that load balancers notice and stop sending first. Set
	// it to at least the load balancer's health-check interval times its
	// unhealthy threshold. Zero closes the listeners at once. By default 0s.
	ReadyDelay Duration `yaml:"ready_delay"`
}

// Default returns a Config with every default filled in and no backends.
// Each call returns a new Config.
func Default() *Config {
	return &Config{
		Listen: Listen{
			Address:           ":8080",
			ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout:       Duration(60 * time.Second),
			WriteTimeout:      0,
			IdleTimeout:       Duration(120 * time.Second),
			MaxHeaderBytes:    64 << 10,
			TLS:               defaultTLS(),

			HTTP2MaxConcurrentStreams: 100,
			MaxInFlightRequests:       10000,
			ResponseWriteTimeout:      Duration(time.Minute),
		},
		Admin: Admin{
			Enabled: true,
			Address: "127.0.0.1:9901",
		},
		Log: Log{
			Format:                 "text",
			Level:                  "info",
			AccessLog:              true,
			AccessLogSampleRate:    1,
			AccessLogSlowThreshold: Duration(time.Second),
			FlushInterval:          Duration(100 * time.Millisecond),
		},
		API: API{
			Profile:                  ProfileArchway,
			MaxRequestBodyBytes:      4 << 20,
			MaxGRPCTimeout:           Duration(time.Minute),
			MaxJSONDepth:             100,
			MaxTotalRequestBodyBytes: 64 << 20,
		},
		Composite: Composite{
			Mode:    "auto",
			Timeout: Duration(2 * time.Second),
		},
		Readiness: Readiness{
			CheckTimeout: Duration(time.Second),
		},
		Shutdown: Shutdown{
			DrainTimeout: Duration(15 * time.Second),
		},
		Policy: Policy{
			Defaults: PolicyDefaults{
				Access:         "authenticated",
				RateLimitClass: "default",
				Timeout:        Duration(30 * time.Second),
			},
		},
		CORS:      defaultCORS(),
		Telemetry: defaultTelemetry(),
		RateLimit: defaultRateLimit(),
		Cache:     defaultCache(),
		Redis:     defaultRedis(),
		Authn:     defaultAuthn(),
		Docs:      defaultDocs(),
		Streaming: defaultStreaming(),
	}
}

// defaultBackend returns the defaults of one backends entry.
func defaultBackend() Backend {
	return Backend{
		MaxReconnectBackoff: Duration(5 * time.Second),
		HealthCheck:         BackendHealthCheck{Enabled: true},
		Retry:               defaultBackendRetry(),
		CircuitBreaker:      defaultBackendCircuitBreaker(),
		MaxInFlight:         1000,
		MaxConcurrentCalls:  100,
		StreamShare:         0.5,
	}
}
