package config_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

// backendsYAML has two backends, one of them with a dash in its name.
const backendsYAML = `
backends:
  - name: users
    address: "127.0.0.1:9101"
    services: [storefront.users.v1.UserService]
  - name: orders-v2
    address: "127.0.0.1:9102"
    services: [storefront.orders.v1.OrderService]
`

func TestEnvOverrides(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ []string
		check   func(c *config.Config) any // returns the overridden value
		want    any
	}{
		{
			name:    "string",
			environ: []string{"ARCHWAY_LISTEN_ADDRESS=127.0.0.1:0"},
			check:   func(c *config.Config) any { return c.Listen.Address },
			want:    "127.0.0.1:0",
		},
		{
			name:    "bool",
			environ: []string{"ARCHWAY_ADMIN_ENABLED=false"},
			check:   func(c *config.Config) any { return c.Admin.Enabled },
			want:    false,
		},
		{
			name:    "int",
			environ: []string{"ARCHWAY_LISTEN_MAX_HEADER_BYTES=8192"},
			check:   func(c *config.Config) any { return c.Listen.MaxHeaderBytes },
			want:    8192,
		},
		{
			name:    "int64",
			environ: []string{"ARCHWAY_API_MAX_REQUEST_BODY_BYTES=1048576"},
			check:   func(c *config.Config) any { return c.API.MaxRequestBodyBytes },
			want:    int64(1 << 20),
		},
		{
			name:    "float",
			environ: []string{"ARCHWAY_LOG_ACCESS_LOG_SAMPLE_RATE=0.25"},
			check:   func(c *config.Config) any { return c.Log.AccessLogSampleRate },
			want:    0.25,
		},
		{
			name:    "duration",
			environ: []string{"ARCHWAY_SHUTDOWN_DRAIN_TIMEOUT=1m30s"},
			check:   func(c *config.Config) any { return c.Shutdown.DrainTimeout.D() },
			want:    90 * time.Second,
		},
		{
			name:    "list",
			environ: []string{"ARCHWAY_API_FORWARD_HEADERS=x-tenant, x-debug"},
			check:   func(c *config.Config) any { return c.API.ForwardHeaders },
			want:    []string{"X-Tenant", "X-Debug"},
		},
		{
			name:    "empty list",
			environ: []string{"ARCHWAY_API_FORWARD_RESPONSE_HEADERS="},
			check:   func(c *config.Config) any { return len(c.API.ForwardResponseHeaders) },
			want:    0,
		},
		{
			name:    "environment wins over the file",
			environ: []string{"ARCHWAY_LOG_LEVEL=debug"},
			check:   func(c *config.Config) any { return c.Log.Level },
			want:    "debug",
		},
		{
			name:    "backend address",
			environ: []string{"ARCHWAY_BACKENDS_USERS_ADDRESS=dns:///users.internal:9090"},
			check:   func(c *config.Config) any { return c.Backends[0].Address },
			want:    "dns:///users.internal:9090",
		},
		{
			name:    "backend services",
			environ: []string{"ARCHWAY_BACKENDS_ORDERS_V2_SERVICES=storefront.orders.v1.OrderService,storefront.orders.v1.RefundService"},
			check:   func(c *config.Config) any { return c.Backends[1].Services },
			want:    []string{"storefront.orders.v1.OrderService", "storefront.orders.v1.RefundService"},
		},
		{
			name:    "backend reconnect backoff",
			environ: []string{"ARCHWAY_BACKENDS_ORDERS_V2_MAX_RECONNECT_BACKOFF=250ms"},
			check:   func(c *config.Config) any { return c.Backends[1].MaxReconnectBackoff.D() },
			want:    250 * time.Millisecond,
		},
		{
			name:    "first of a repeated variable wins",
			environ: []string{"ARCHWAY_LOG_FORMAT=json", "ARCHWAY_LOG_FORMAT=bogus"},
			check:   func(c *config.Config) any { return c.Log.Format },
			want:    "json",
		},
		{
			name:    "other variables are ignored",
			environ: []string{"HOME=/root", "archway_log_level=loud", "ARCHWAY_CONFIG=/etc/archway.yaml", "ARCHWAY_TEST_REQUIRE_REDIS=1", "=C:=C:\\", "ARCHWAY_NOEQUALS"},
			check:   func(c *config.Config) any { return c.Log.Level },
			want:    "warn",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse([]byte("log:\n  level: warn\n"+backendsYAML), tc.environ)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := tc.check(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		yaml    string
		environ []string
		want    string
	}{
		{
			name:    "unknown variable",
			environ: []string{"ARCHWAY_LOG_LEVL=debug"},
			want:    "ARCHWAY_LOG_LEVL: names no setting",
		},
		{
			name:    "section variable",
			environ: []string{"ARCHWAY_LISTEN=:8080"},
			want:    "ARCHWAY_LISTEN: names no setting",
		},
		{
			name:    "unknown backend",
			environ: []string{"ARCHWAY_BACKENDS_BILLING_ADDRESS=127.0.0.1:9104"},
			want:    "ARCHWAY_BACKENDS_BILLING_ADDRESS: names no setting: ARCHWAY_BACKENDS_<NAME>_<KEY> must name one of the backends in the configuration file (there are users, orders-v2)",
		},
		{
			name:    "backend in a file without backends",
			yaml:    "log:\n  level: info\n",
			environ: []string{"ARCHWAY_BACKENDS_USERS_ADDRESS=127.0.0.1:9101"},
			want:    "ARCHWAY_BACKENDS_USERS_ADDRESS: names no setting: ARCHWAY_BACKENDS_<NAME>_<KEY> must name one of the backends in the configuration file (there are none)",
		},
		{
			name:    "unknown backend key",
			environ: []string{"ARCHWAY_BACKENDS_USERS_PORT=9101"},
			want:    "ARCHWAY_BACKENDS_USERS_PORT: names no setting",
		},
		{
			name:    "backend name is not overridable",
			environ: []string{"ARCHWAY_BACKENDS_USERS_NAME=people"},
			want:    "ARCHWAY_BACKENDS_USERS_NAME: names no setting",
		},
		{
			name:    "ambiguous backend",
			yaml:    "backends:\n  - name: users\n  - name: users\n",
			environ: []string{"ARCHWAY_BACKENDS_USERS_ADDRESS=127.0.0.1:9101"},
			want:    "ARCHWAY_BACKENDS_USERS_ADDRESS: ambiguous: it names backends[0].address and backends[1].address",
		},
		{
			name:    "invalid value",
			environ: []string{"ARCHWAY_LOG_LEVEL=loud"},
			want:    `log.level: must be one of "debug", "info", "warn" or "error", got "loud" (set by ARCHWAY_LOG_LEVEL)`,
		},
		{
			name:    "invalid list item",
			environ: []string{"ARCHWAY_BACKENDS_USERS_SERVICES=storefront.users.v1.UserService,Users"},
			want:    `backends[0].services[1]: "Users" is not a fully-qualified proto service name like "storefront.users.v1.UserService" (set by ARCHWAY_BACKENDS_USERS_SERVICES)`,
		},
		{
			name:    "invalid backend value",
			environ: []string{"ARCHWAY_BACKENDS_ORDERS_V2_ADDRESS=orders"},
			want:    `backends[1].address: "orders" is not host:port with a port from 1 to 65535; want "host:port", "dns:///host:port" or "unix:///path" (set by ARCHWAY_BACKENDS_ORDERS_V2_ADDRESS)`,
		},
		{
			name:    "not an integer",
			environ: []string{"ARCHWAY_API_MAX_REQUEST_BODY_BYTES=4MiB"},
			want:    `ARCHWAY_API_MAX_REQUEST_BODY_BYTES: want an integer, got "4MiB"`,
		},
		{
			name:    "integer out of range",
			environ: []string{"ARCHWAY_LISTEN_MAX_HEADER_BYTES=99999999999999999999"},
			want:    `ARCHWAY_LISTEN_MAX_HEADER_BYTES: "99999999999999999999" is out of range`,
		},
		{
			name:    "not a number",
			environ: []string{"ARCHWAY_LOG_ACCESS_LOG_SAMPLE_RATE=half"},
			want:    `ARCHWAY_LOG_ACCESS_LOG_SAMPLE_RATE: want a number, got "half"`,
		},
		{
			name:    "not a bool",
			environ: []string{"ARCHWAY_LOG_ACCESS_LOG=yes"},
			want:    `ARCHWAY_LOG_ACCESS_LOG: want true or false, got "yes"`,
		},
		{
			name:    "not a duration",
			environ: []string{"ARCHWAY_READINESS_CHECK_TIMEOUT=1"},
			want:    `ARCHWAY_READINESS_CHECK_TIMEOUT: invalid duration "1": want a number with a unit, like "250ms", "1.5s" or "2m"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			yaml := tc.yaml
			if yaml == "" {
				yaml = backendsYAML
			}
			_, err := config.Parse([]byte(yaml), tc.environ)
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tc.want)
			}
			assertError(t, err, "config.Parse: ", tc.want)
		})
	}
}

// TestEveryFieldHasAVariable derives each field's variable from its YAML
// path and checks that Parse knows it.
func TestEveryFieldHasAVariable(t *testing.T) {
	t.Parallel()
	for _, path := range yamlPaths(reflect.TypeFor[config.Config](), "") {
		if path == "backends[].name" || fileOnly(path) {
			continue // names the backend, or is set in the file only
		}
		name := "ARCHWAY_" + strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(path, "backends[].", "backends.users."), ".", "_"))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse([]byte(backendsYAML), []string{name + "=x"})
			if err != nil && strings.Contains(err.Error(), "names no setting") {
				t.Errorf("%s (for %s) is not accepted: %v", name, path, err)
			}
		})
	}
}

// TestLoadReadsEnvironment cannot run in parallel: it sets the process
// environment.
func TestLoadReadsEnvironment(t *testing.T) {
	t.Setenv("ARCHWAY_LOG_FORMAT", "json")
	t.Setenv("ARCHWAY_BACKENDS_CATALOG_ADDRESS", "unix:///run/catalog.sock")
	c, err := config.Load(filepath.Join("testdata", "archway.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Log.Format != "json" || c.Backends[2].Address != "unix:///run/catalog.sock" {
		t.Errorf("log.format = %q, backends[2].address = %q; want the environment's", c.Log.Format, c.Backends[2].Address)
	}

	t.Setenv("ARCHWAY_LOG_FROMAT", "json")
	_, err = config.Load(filepath.Join("testdata", "archway.yaml"))
	if err == nil {
		t.Fatal("Load succeeded with a misspelt variable")
	}
	assertError(t, err, "config.Load: testdata/archway.yaml: ARCHWAY_LOG_FROMAT: names no setting")
}
