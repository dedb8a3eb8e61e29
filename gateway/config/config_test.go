package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

// validConfig returns a configuration that passes validation, with one
// backend, for tests to break one field at a time.
func validConfig() *config.Config {
	c := config.Default()
	c.Backends = []config.Backend{{
		Name:                "users",
		Address:             "127.0.0.1:9101",
		Services:            []string{"storefront.users.v1.UserService"},
		MaxReconnectBackoff: config.Duration(5 * time.Second),
		MaxConcurrentCalls:  100,
		StreamShare:         0.5,
	}}
	return c
}

func TestDefault(t *testing.T) {
	t.Parallel()
	want := &config.Config{
		Listen: config.Listen{
			Address:           ":8080",
			ReadHeaderTimeout: config.Duration(10 * time.Second),
			ReadTimeout:       config.Duration(60 * time.Second),
			WriteTimeout:      0,
			IdleTimeout:       config.Duration(120 * time.Second),
			MaxHeaderBytes:    65536,
			TLS: config.TLS{
				ClientAuth: "none", MinVersion: "1.2", ReloadInterval: config.Duration(10 * time.Second),
			},
			HTTP2MaxConcurrentStreams: 100,
			MaxInFlightRequests:       10000,
			ResponseWriteTimeout:      config.Duration(time.Minute),
		},
		Admin: config.Admin{Enabled: true, Address: "127.0.0.1:9901"},
		Log: config.Log{
			Format: "text", Level: "info", AccessLog: true,
			AccessLogSampleRate: 1, AccessLogSlowThreshold: config.Duration(time.Second),
			FlushInterval: config.Duration(100 * time.Millisecond),
		},
		API: config.API{
			Profile:                  config.ProfileArchway,
			MaxRequestBodyBytes:      4194304,
			MaxGRPCTimeout:           config.Duration(time.Minute),
			MaxJSONDepth:             100,
			MaxTotalRequestBodyBytes: 64 << 20,
		},
		Composite: config.Composite{Mode: "auto", Timeout: config.Duration(2 * time.Second)},
		Readiness: config.Readiness{CheckTimeout: config.Duration(time.Second)},
		Shutdown:  config.Shutdown{DrainTimeout: config.Duration(15 * time.Second)},
		Policy: config.Policy{Defaults: config.PolicyDefaults{
			Access: "authenticated", RateLimitClass: "default", Timeout: config.Duration(30 * time.Second),
		}},
		CORS: config.CORS{
			AllowedMethods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"},
			AllowedHeaders: []string{"Authorization", "Content-Type", "X-Api-Key", "X-Request-Id"},
			ExposedHeaders: []string{
				"X-Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
				"RateLimit-Policy", "Retry-After", "Archway-Partial", "Location",
			},
			MaxAge: config.Duration(10 * time.Minute),
		},
		Telemetry: config.Telemetry{
			Metrics: config.TelemetryMetrics{Enabled: true},
			Tracing: config.Tracing{Protocol: "grpc", SampleRatio: 1, ServiceName: "archway"},
		},
		RateLimit: config.RateLimit{
			Store: "memory", OnStoreError: "fail_open", MemoryMaxKeys: 100000, MaxStreamsPerClient: 20,
			Classes: map[string]config.RateLimitClass{
				"default": {Requests: 100, Per: config.Duration(time.Second), Burst: 200},
			},
		},
		Cache: config.Cache{
			Enabled: true, Store: "memory", MaxBytes: 64 << 20, MaxEntryBytes: 1 << 20,
			MemoryMaxResources: 100000, NoCacheMinAge: config.Duration(time.Second),
			FetchTimeout:               config.Duration(30 * time.Second),
			RedisInvalidationRetention: config.Duration(24 * time.Hour),
		},
		Redis: config.Redis{
			DialTimeout:  config.Duration(250 * time.Millisecond),
			ReadTimeout:  config.Duration(250 * time.Millisecond),
			WriteTimeout: config.Duration(250 * time.Millisecond),
			PoolTimeout:  config.Duration(250 * time.Millisecond),
		},
		Authn: config.Authn{ClockSkew: config.Duration(30 * time.Second), APIKeyHeader: "X-Api-Key", FailedAttempts: config.FailedAttempts{Requests: 60, Per: config.Duration(time.Minute), Burst: 30, MaxAddresses: 100000}},
		Docs:  config.Docs{Enabled: true, Path: "/docs", OpenAPI: config.Default().Docs.OpenAPI},
		Streaming: config.Streaming{
			SSEHeartbeat:     config.Duration(15 * time.Second),
			WriteIdleTimeout: config.Duration(30 * time.Second),
			WebSocket:        config.WebSocket{MaxMessageBytes: 64 << 10, IdleTimeout: config.Duration(5 * time.Minute)},
		},
	}
	got := config.Default()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	got.Listen.Address = "changed"
	if config.Default().Listen.Address != ":8080" {
		t.Error("Default() returned a shared Config")
	}
}

func TestParseKeepsDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
	}{
		{"empty", ""},
		{"comments only", "# nothing here\n"},
		{"empty document", "---\n"},
		{"null document", "~\n"},
		{"null sections", "listen:\nadmin: ~\nlog:\napi:\nreadiness:\nshutdown:\n"},
		{"null values", "listen:\n  address: ~\n  read_timeout:\nlog:\n  level: null\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.Parse([]byte(tc.yaml), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if want := config.Default(); !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q) =\n%+v\nwant the defaults\n%+v", tc.yaml, got, want)
			}
		})
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Parse([]byte(`
listen:
  address: "127.0.0.1:0"
  write_timeout: 30s
admin:
  enabled: false
log:
  format: json
api:
  unknown_fields: ignore
  forward_headers: [x-tenant, X-DEBUG, x-b3-traceid]
  forward_response_headers: [X-RateLimit-Remaining]
`), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := config.Default()
	want.Listen.Address = "127.0.0.1:0"
	want.Listen.WriteTimeout = config.Duration(30 * time.Second)
	want.Admin.Enabled = false
	want.Log.Format = "json"
	want.API.UnknownFields = "ignore"
	want.API.ForwardHeaders = []string{"X-Tenant", "X-Debug", "X-B3-Traceid"}
	want.API.ForwardResponseHeaders = []string{"x-ratelimit-remaining"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseBackendDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Parse([]byte(`
backends:
  - name: users
    address: "127.0.0.1:9101"
    services: [storefront.users.v1.UserService]
  - name: orders
    address: "dns:///orders.internal:9090"
    services: [storefront.orders.v1.OrderService]
    max_reconnect_backoff: 30s
  - name: catalog
    address: "unix:///run/catalog.sock"
    services: [storefront.catalog.v1.CatalogService]
    max_reconnect_backoff: ~
`), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for i, want := range []time.Duration{5 * time.Second, 30 * time.Second, 5 * time.Second} {
		if d := got.Backends[i].MaxReconnectBackoff.D(); d != want {
			t.Errorf("backends[%d].max_reconnect_backoff = %v, want %v", i, d, want)
		}
	}
}

func TestParseRejectsBadYAML(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{
			name: "unknown top-level key",
			yaml: "listen:\n  address: \":8080\"\nlisten_address: \":9090\"\n",
			want: []string{"line 3", "listen_address"},
		},
		{
			name: "unknown nested key",
			yaml: "log:\n  level: info\n  colour: true\n",
			want: []string{"line 3", "colour"},
		},
		{
			name: "unknown backend key",
			yaml: "backends:\n  - name: users\n    adr: \"127.0.0.1:9101\"\n",
			want: []string{"line 3", "adr"},
		},
		{
			name: "wrong type",
			yaml: "listen:\n  max_header_bytes: lots\n",
			want: []string{"line 2", "lots"},
		},
		{
			name: "duration without unit",
			yaml: "shutdown:\n  drain_timeout: 15\n",
			want: []string{"line 2", `"15"`, "duration"},
		},
		{
			name: "duration as mapping",
			yaml: "readiness:\n  check_timeout:\n    seconds: 1\n",
			want: []string{"line 3", "mapping", "duration"},
		},
		{
			name: "every type error",
			yaml: "listen:\n  idle_timeout: soon\nadmin:\n  enabled: maybe\n",
			want: []string{"line 2", "soon", "line 4", "maybe"},
		},
		{
			name: "duplicate key",
			yaml: "log:\n  level: info\n  level: debug\n",
			want: []string{"line 3", "level"},
		},
		{
			name: "syntax",
			yaml: "listen:\n  address: [\n",
			want: []string{"line"},
		},
		{
			name: "not a mapping",
			yaml: "- listen\n",
			want: []string{"line 1"},
		},
		{
			name: "two documents",
			yaml: "log:\n  level: info\n---\nlog:\n  level: debug\n",
			want: []string{"line 3", "single YAML document"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse([]byte(tc.yaml), nil)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", tc.yaml)
			}
			assertError(t, err, append([]string{"config.Parse: "}, tc.want...)...)
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	c, err := config.Load(filepath.Join("testdata", "archway.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	var got [][3]string
	for _, b := range c.Backends {
		if len(b.Services) != 1 || b.MaxReconnectBackoff.D() != 5*time.Second {
			t.Errorf("backend %s: services %q, max_reconnect_backoff %v; want one service, 5s", b.Name, b.Services, b.MaxReconnectBackoff)
		}
		got = append(got, [3]string{b.Name, b.Address, strings.Join(b.Services, ",")})
	}
	want := [][3]string{
		{"users", "127.0.0.1:9101", "storefront.users.v1.UserService"},
		{"orders", "127.0.0.1:9102", "storefront.orders.v1.OrderService"},
		{"catalog", "127.0.0.1:9103", "storefront.catalog.v1.CatalogService"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("backends = %q, want %q", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "archway.yaml")
	if err := os.WriteFile(bad, []byte("log:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		want []string
	}{
		{"missing file", filepath.Join(dir, "missing.yaml"), []string{"config.Load: ", "missing.yaml"}},
		{"invalid value", bad, []string{"config.Load: " + bad + ": ", `log.level: must be one of "debug", "info", "warn" or "error", got "loud"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(tc.path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			assertError(t, err, tc.want...)
		})
	}
}

// assertError fails t unless err's text contains every one of want.
func assertError(t *testing.T, err error, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", err, w)
		}
	}
}

func TestParseRateLimitAndRedis(t *testing.T) {
	t.Parallel()
	got, err := config.Parse([]byte(`
rate_limit:
  store: redis
  on_store_error: fail_closed
  classes:
    search: {requests: 10, per: 1m, burst: 5}
redis:
  address: "127.0.0.1:6379"
  db: 2
  read_timeout: 100ms
`), []string{"ARCHWAY_REDIS_PASSWORD=s3cret", "ARCHWAY_RATE_LIMIT_MEMORY_MAX_KEYS=5000"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := config.Default()
	want.RateLimit.Store = "redis"
	want.RateLimit.OnStoreError = "fail_closed"
	want.RateLimit.MemoryMaxKeys = 5000
	// A class in the file is added to the default one, which route policies
	// fall back to.
	want.RateLimit.Classes["search"] = config.RateLimitClass{Requests: 10, Per: config.Duration(time.Minute), Burst: 5}
	want.Redis.Address = "127.0.0.1:6379"
	want.Redis.DB = 2
	want.Redis.ReadTimeout = config.Duration(100 * time.Millisecond)
	want.Redis.Password = "s3cret"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
	}
}
