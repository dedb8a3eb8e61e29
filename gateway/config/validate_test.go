package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

func TestValidateRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(c *config.Config)
		want   string // the whole problem, path first
	}{
		{"listen address empty", func(c *config.Config) { c.Listen.Address = "" }, "listen.address: must not be empty"},
		{"listen address without port", func(c *config.Config) { c.Listen.Address = "8080" }, `listen.address: want host:port with a numeric port, like ":8080" or "127.0.0.1:8080", got "8080"`},
		{"listen address named port", func(c *config.Config) { c.Listen.Address = "localhost:http" }, `listen.address: want host:port`},
		{"listen address port out of range", func(c *config.Config) { c.Listen.Address = ":65536" }, `listen.address: want host:port`},
		{"negative read header timeout", func(c *config.Config) { c.Listen.ReadHeaderTimeout = -1 }, "listen.read_header_timeout: must not be negative, got -1ns"},
		{"negative read timeout", func(c *config.Config) { c.Listen.ReadTimeout = config.Duration(-time.Second) }, "listen.read_timeout: must not be negative, got -1s"},
		{"negative write timeout", func(c *config.Config) { c.Listen.WriteTimeout = config.Duration(-time.Second) }, "listen.write_timeout: must not be negative, got -1s"},
		{"negative idle timeout", func(c *config.Config) { c.Listen.IdleTimeout = config.Duration(-time.Second) }, "listen.idle_timeout: must not be negative, got -1s"},
		{"zero max header bytes", func(c *config.Config) { c.Listen.MaxHeaderBytes = 0 }, "listen.max_header_bytes: must be positive, got 0"},
		{"admin address", func(c *config.Config) { c.Admin.Address = "localhost" }, `admin.address: want host:port with a numeric port, like ":8080" or "127.0.0.1:8080", got "localhost"`},
		{"log format", func(c *config.Config) { c.Log.Format = "logfmt" }, `log.format: must be "json" or "text", got "logfmt"`},
		{"log level", func(c *config.Config) { c.Log.Level = "INFO" }, `log.level: must be one of "debug", "info", "warn" or "error", got "INFO"`},
		{"profile", func(c *config.Config) { c.API.Profile = "grpc_gateway" }, `api.profile: must be "archway" or "grpc-gateway", got "grpc_gateway"`},
		{"empty profile", func(c *config.Config) { c.API.Profile = "" }, `api.profile: must be "archway" or "grpc-gateway", got ""`},
		{"unknown query parameters", func(c *config.Config) { c.API.UnknownQueryParameters = "drop" }, `api.unknown_query_parameters: must be "reject" or "ignore", got "drop"`},
		{"path unescaping", func(c *config.Config) { c.API.PathUnescaping = "none" }, `api.path_unescaping: must be "all_except_slash" or "legacy", got "none"`},
		{"unknown fields", func(c *config.Config) { c.API.UnknownFields = "drop" }, `api.unknown_fields: must be "reject" or "ignore", got "drop"`},
		{"zero body limit", func(c *config.Config) { c.API.MaxRequestBodyBytes = 0 }, "api.max_request_body_bytes: must be positive, got 0"},
		{"empty forward header", func(c *config.Config) { c.API.ForwardHeaders = []string{"X-Tenant", ""} }, "api.forward_headers[1]: must not be empty"},
		{"forward header with space", func(c *config.Config) { c.API.ForwardHeaders = []string{"X Tenant"} }, `api.forward_headers[0]: "X Tenant" is not a header name gRPC metadata can carry`},
		{"forward header with colon", func(c *config.Config) { c.API.ForwardHeaders = []string{":authority"} }, `api.forward_headers[0]: ":authority" is not a header name`},
		{"forward grpc header", func(c *config.Config) { c.API.ForwardHeaders = []string{"Grpc-Timeout"} }, `api.forward_headers[0]: "Grpc-Timeout" cannot be forwarded: HTTP or gRPC reserve it`},
		{"forward hop-by-hop header", func(c *config.Config) { c.API.ForwardHeaders = []string{"Connection"} }, `api.forward_headers[0]: "Connection" cannot be forwarded`},
		{"duplicate forward header", func(c *config.Config) { c.API.ForwardHeaders = []string{"X-Tenant", "x-tenant"} }, `api.forward_headers[1]: "x-tenant" duplicates api.forward_headers[0]`},
		{"response header with space", func(c *config.Config) { c.API.ForwardResponseHeaders = []string{"x y"} }, `api.forward_response_headers[0]: "x y" is not a header name`},
		{"forward grpc response header", func(c *config.Config) { c.API.ForwardResponseHeaders = []string{"grpc-status"} }, `api.forward_response_headers[0]: "grpc-status" cannot be forwarded`},
		{"backend name empty", func(c *config.Config) { c.Backends[0].Name = "" }, "backends[0].name: must not be empty"},
		{"backend name upper case", func(c *config.Config) { c.Backends[0].Name = "Users" }, `backends[0].name: must be made of lower-case letters, digits and '-', got "Users"`},
		{"backend name underscore", func(c *config.Config) { c.Backends[0].Name = "user_svc" }, `backends[0].name: must be made of`},
		{"backend name duplicate", func(c *config.Config) { c.Backends[1].Name = "users" }, `backends[1].name: "users" duplicates backends[0].name`},
		{"backend address empty", func(c *config.Config) { c.Backends[1].Address = "" }, "backends[1].address: must not be empty"},
		{"backend address without port", func(c *config.Config) { c.Backends[1].Address = "orders.internal" }, `backends[1].address: "orders.internal" is not host:port with a port from 1 to 65535`},
		{"backend address port zero", func(c *config.Config) { c.Backends[1].Address = "127.0.0.1:0" }, `backends[1].address: "127.0.0.1:0" is not host:port`},
		{"backend address without host", func(c *config.Config) { c.Backends[1].Address = ":9102" }, `backends[1].address: ":9102" is not host:port`},
		{"backend dns without port", func(c *config.Config) { c.Backends[1].Address = "dns:///orders.internal" }, `backends[1].address: "dns:///orders.internal" does not end in host:port`},
		{"backend dns without endpoint", func(c *config.Config) { c.Backends[1].Address = "dns://8.8.8.8" }, `backends[1].address: "dns://8.8.8.8" has no host:port after the authority`},
		{"backend unix relative after slashes", func(c *config.Config) { c.Backends[1].Address = "unix://run/orders.sock" }, `backends[1].address: "unix://run/orders.sock": after unix:// comes an absolute path`},
		{"backend unix without path", func(c *config.Config) { c.Backends[1].Address = "unix:" }, `backends[1].address: "unix:" has no socket path`},
		{"backend unsupported scheme", func(c *config.Config) { c.Backends[1].Address = "xds:///orders" }, `backends[1].address: "xds:///orders" uses the unsupported scheme "xds"`},
		{"backend without services", func(c *config.Config) { c.Backends[1].Services = nil }, "backends[1].services: must list at least one service"},
		{"backend empty service", func(c *config.Config) { c.Backends[1].Services = append(c.Backends[1].Services, "") }, "backends[1].services[1]: must not be empty"},
		{"backend service without package", func(c *config.Config) { c.Backends[1].Services = []string{"OrderService"} }, `backends[1].services[0]: "OrderService" is not a fully-qualified proto service name`},
		{"backend service as method", func(c *config.Config) {
			c.Backends[1].Services = []string{"storefront.orders.v1.OrderService/GetOrder"}
		}, `backends[1].services[0]: "storefront.orders.v1.OrderService/GetOrder" is not a fully-qualified`},
		{"backend service leading dot", func(c *config.Config) { c.Backends[1].Services = []string{".storefront.orders.v1.OrderService"} }, `backends[1].services[0]: ".storefront.orders.v1.OrderService" is not a fully-qualified`},
		{"service in two backends", func(c *config.Config) { c.Backends[1].Services = []string{"storefront.users.v1.UserService"} }, `backends[1].services[0]: "storefront.users.v1.UserService" is already listed at backends[0].services[0]`},
		{"service twice in one backend", func(c *config.Config) {
			c.Backends[1].Services = append(c.Backends[1].Services, c.Backends[1].Services[0])
		}, `backends[1].services[1]: "storefront.orders.v1.OrderService" is already listed at backends[1].services[0]`},
		{"zero reconnect backoff", func(c *config.Config) { c.Backends[1].MaxReconnectBackoff = 0 }, "backends[1].max_reconnect_backoff: must be positive, got 0s"},
		{"composite mode", func(c *config.Config) { c.Composite.Mode = "on" }, `composite.mode: must be one of "auto", "always" or "never", got "on"`},
		{"zero composite timeout", func(c *config.Config) { c.Composite.Timeout = 0 }, "composite.timeout: must be positive, got 0s"},
		{"zero check timeout", func(c *config.Config) { c.Readiness.CheckTimeout = 0 }, "readiness.check_timeout: must be positive, got 0s"},
		{"negative response write timeout", func(c *config.Config) { c.Listen.ResponseWriteTimeout = -1 }, "listen.response_write_timeout: must not be negative"},
		{"negative stream write idle timeout", func(c *config.Config) { c.Streaming.WriteIdleTimeout = -1 }, "streaming.write_idle_timeout: must not be negative"},
		{"body budget under one body", func(c *config.Config) { c.API.MaxTotalRequestBodyBytes = 1024 }, "api.max_total_request_body_bytes: must be 0 or at least api.max_request_body_bytes (4194304), got 1024"},
		{"negative drain timeout", func(c *config.Config) { c.Shutdown.DrainTimeout = config.Duration(-time.Second) }, "shutdown.drain_timeout: must not be negative, got -1s"},
		{"rate limit store", func(c *config.Config) { c.RateLimit.Store = "etcd" }, `rate_limit.store: must be "memory" or "redis", got "etcd"`},
		{"redis store without address", func(c *config.Config) { c.RateLimit.Store = "redis" }, `rate_limit.store: "redis" needs redis.address`},
		{"on store error", func(c *config.Config) { c.RateLimit.OnStoreError = "open" }, `rate_limit.on_store_error: must be "fail_open" or "fail_closed", got "open"`},
		{"zero memory max keys", func(c *config.Config) { c.RateLimit.MemoryMaxKeys = 0 }, "rate_limit.memory_max_keys: must be positive, got 0"},
		{"zero streams per client", func(c *config.Config) { c.RateLimit.MaxStreamsPerClient = 0 }, "rate_limit.max_streams_per_client: must be positive, got 0"},
		{"cache store", func(c *config.Config) { c.Cache.Store = "disk" }, `cache.store: must be "memory" or "redis", got "disk"`},
		{"cache redis store without address", func(c *config.Config) { c.Cache.Store = "redis" }, `cache.store: "redis" needs redis.address`},
		{"zero cache max bytes", func(c *config.Config) { c.Cache.MaxBytes = 0 }, "cache.max_bytes: must be positive, got 0"},
		{"cache entry larger than the cache", func(c *config.Config) { c.Cache.MaxEntryBytes = c.Cache.MaxBytes + 1 }, "cache.max_entry_bytes: must be positive and at most cache.max_bytes"},
		{"zero cache max resources", func(c *config.Config) { c.Cache.MemoryMaxResources = 0 }, "cache.memory_max_resources: must be positive, got 0"},
		{"negative no-cache min age", func(c *config.Config) { c.Cache.NoCacheMinAge = config.Duration(-time.Second) }, "cache.no_cache_min_age: must not be negative, got -1s"},
		{"zero fetch timeout", func(c *config.Config) { c.Cache.FetchTimeout = 0 }, "cache.fetch_timeout: must be positive, got 0s"},
		{"short invalidation retention", func(c *config.Config) { c.Cache.RedisInvalidationRetention = config.Duration(time.Second) }, "cache.redis_invalidation_retention: must be at least 1m, got 1s"},
		{"class named none", func(c *config.Config) {
			c.RateLimit.Classes["none"] = config.RateLimitClass{Requests: 1, Per: config.Duration(time.Second), Burst: 1}
		}, `rate_limit.classes.none: "none" is reserved`},
		{"class name with colon", func(c *config.Config) {
			c.RateLimit.Classes["a:b"] = config.RateLimitClass{Requests: 1, Per: config.Duration(time.Second), Burst: 1}
		}, `rate_limit.classes.a:b: the name must be made of letters, digits, '_', '-' and '.', got "a:b"`},
		{"zero requests", func(c *config.Config) {
			c.RateLimit.Classes["default"] = config.RateLimitClass{Per: config.Duration(time.Second), Burst: 1}
		}, "rate_limit.classes.default.requests: must be positive, got 0"},
		{"zero per", func(c *config.Config) { c.RateLimit.Classes["default"] = config.RateLimitClass{Requests: 1, Burst: 1} }, "rate_limit.classes.default.per: must be a whole number of seconds, at least 1s, got 0s"},
		{"fractional per", func(c *config.Config) {
			c.RateLimit.Classes["default"] = config.RateLimitClass{Requests: 1, Per: config.Duration(1500 * time.Millisecond), Burst: 1}
		}, "rate_limit.classes.default.per: must be a whole number of seconds, at least 1s, got 1.5s"},
		{"zero burst", func(c *config.Config) {
			c.RateLimit.Classes["default"] = config.RateLimitClass{Requests: 1, Per: config.Duration(time.Second)}
		}, "rate_limit.classes.default.burst: must be positive, got 0"},
		{"redis address without port", func(c *config.Config) { c.Redis.Address = "redis.internal" }, `redis.address: want host:port with a port from 1 to 65535, like "127.0.0.1:6379", got "redis.internal"`},
		{"negative redis db", func(c *config.Config) { c.Redis.DB = -1 }, "redis.db: must not be negative, got -1"},
		{"zero redis dial timeout", func(c *config.Config) { c.Redis.DialTimeout = 0 }, "redis.dial_timeout: must be positive, got 0s"},
		{"zero redis read timeout", func(c *config.Config) { c.Redis.ReadTimeout = 0 }, "redis.read_timeout: must be positive, got 0s"},
		{"zero redis write timeout", func(c *config.Config) { c.Redis.WriteTimeout = 0 }, "redis.write_timeout: must be positive, got 0s"},
		{"negative redis pool size", func(c *config.Config) { c.Redis.PoolSize = -1 }, "redis.pool_size: must not be negative, got -1"},
		{"zero redis pool timeout", func(c *config.Config) { c.Redis.PoolTimeout = 0 }, "redis.pool_timeout: must be positive, got 0s"},
		{"negative redis max retries", func(c *config.Config) { c.Redis.MaxRetries = -1 }, "redis.max_retries: must not be negative, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := twoBackends()
			tc.modify(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			if got := strings.TrimPrefix(err.Error(), "config.Validate: "); !strings.HasPrefix(got, tc.want) {
				t.Errorf("Validate() = %q\nwant config.Validate: %q", err, tc.want)
			}
		})
	}
}

// twoBackends returns a valid configuration with backends users and orders.
func twoBackends() *config.Config {
	c := validConfig()
	c.Backends = append(c.Backends, config.Backend{
		Name:                "orders",
		Address:             "127.0.0.1:9102",
		Services:            []string{"storefront.orders.v1.OrderService"},
		MaxReconnectBackoff: config.Duration(time.Second),
		MaxConcurrentCalls:  100,
		StreamShare:         0.5,
	})
	return c
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(c *config.Config)
	}{
		{"no backends", func(c *config.Config) { c.Backends = nil }},
		{"listen on a free loopback port", func(c *config.Config) { c.Listen.Address = "127.0.0.1:0" }},
		{"listen on IPv6", func(c *config.Config) { c.Listen.Address = "[::1]:8080" }},
		{"zero timeouts", func(c *config.Config) {
			c.Listen.ReadHeaderTimeout, c.Listen.ReadTimeout, c.Listen.IdleTimeout, c.Shutdown.DrainTimeout = 0, 0, 0, 0
		}},
		{"admin disabled with no address", func(c *config.Config) { c.Admin = config.Admin{Enabled: false} }},
		{"forwarded headers", func(c *config.Config) {
			c.API.ForwardHeaders = []string{"X-Tenant", "x-b3-traceid", "Authorization", "X-Trace.Id_2"}
			c.API.ForwardResponseHeaders = []string{"x-ratelimit-remaining", "X-Served-By"}
		}},
		{"hostname target", func(c *config.Config) { c.Backends[0].Address = "users.internal:9090" }},
		{"redis store", func(c *config.Config) {
			c.RateLimit.Store, c.RateLimit.OnStoreError, c.Redis.Address = "redis", "fail_closed", "redis.internal:6379"
		}},
		{"more rate limit classes", func(c *config.Config) {
			c.RateLimit.Classes["search.v2_anon-1"] = config.RateLimitClass{Requests: 10, Per: config.Duration(time.Minute), Burst: 1}
		}},
		{"IPv6 target", func(c *config.Config) { c.Backends[0].Address = "[::1]:9101" }},
		{"dns target", func(c *config.Config) { c.Backends[0].Address = "dns:///users.internal:9090" }},
		{"dns target with authority", func(c *config.Config) { c.Backends[0].Address = "dns://8.8.8.8:53/users.internal:9090" }},
		{"dns target without slashes", func(c *config.Config) { c.Backends[0].Address = "dns:users.internal:9090" }},
		{"absolute unix target", func(c *config.Config) { c.Backends[0].Address = "unix:///run/users.sock" }},
		{"relative unix target", func(c *config.Config) { c.Backends[0].Address = "unix:users.sock" }},
		{"several services", func(c *config.Config) {
			c.Backends[0].Services = []string{"storefront.users.v1.UserService", "grpc.health.v1.Health", "a_b.C"}
		}},
		{"backend name with digits and dashes", func(c *config.Config) { c.Backends[0].Name = "users-v2" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tc.modify(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.Log.Level = "loud"
	c.API.UnknownFields = "drop"
	c.Backends = append(c.Backends, config.Backend{Name: "orders", Services: []string{"storefront.orders.v1.OrderService"}, MaxReconnectBackoff: 1, MaxConcurrentCalls: 1, StreamShare: 1})
	err := c.Validate()
	want := []string{
		`log.level: must be one of "debug", "info", "warn" or "error", got "loud"`,
		`api.unknown_fields: must be "reject" or "ignore", got "drop"`,
		`backends[1].address: must not be empty`,
	}
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	if !strings.HasPrefix(err.Error(), "config.Validate: 3 problems:\n") {
		t.Errorf("Validate() = %q, want it to start with the count", err)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("Validate() = %#v, want errors joined", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.API.ForwardHeaders = []string{"x-tenant"}
	c.API.ForwardResponseHeaders = []string{"X-Served-By"}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if c.API.ForwardHeaders[0] != "x-tenant" || c.API.ForwardResponseHeaders[0] != "X-Served-By" {
		t.Errorf("Validate modified the header names: %q, %q", c.API.ForwardHeaders, c.API.ForwardResponseHeaders)
	}
}
