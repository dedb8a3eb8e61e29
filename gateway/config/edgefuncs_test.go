package config_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/archway-gateway/archway/gateway/config"
)

func TestValidateEdgeFunctions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(c *config.Config)
		want   string // the whole problem, path first
	}{
		{"trusted proxy not an address", func(c *config.Config) { c.Listen.TrustedProxies = []string{"10.0.0.0/8", "proxy.internal"} },
			`listen.trusted_proxies[1]: "proxy.internal" is not an address`},
		{"trusted proxy with host bits", func(c *config.Config) { c.Listen.TrustedProxies = []string{"10.1.2.3/8"} },
			`listen.trusted_proxies[0]: "10.1.2.3/8" has bits set past the prefix length: write "10.0.0.0/8"`},
		{"trusted proxy with zone", func(c *config.Config) { c.Listen.TrustedProxies = []string{"fe80::1%eth0"} },
			`listen.trusted_proxies[0]: "fe80::1%eth0" is not an address`},
		{"trusted proxy prefix too long", func(c *config.Config) { c.Listen.TrustedProxies = []string{"10.0.0.0/33"} },
			`listen.trusted_proxies[0]: "10.0.0.0/33" is not a CIDR`},
		{"short mapped prefix", func(c *config.Config) { c.Listen.TrustedProxies = []string{"::ffff:0:0/95"} },
			`listen.trusted_proxies[0]: "::ffff:0:0/95" has bits set past the prefix length: write "::fffe:0:0/95"`},
		{"sample rate above one", func(c *config.Config) { c.Log.AccessLogSampleRate = 1.5 },
			"log.access_log_sample_rate: must be from 0 to 1, got 1.5"},
		{"negative sample rate", func(c *config.Config) { c.Log.AccessLogSampleRate = -0.1 },
			"log.access_log_sample_rate: must be from 0 to 1, got -0.1"},
		{"negative slow threshold", func(c *config.Config) { c.Log.AccessLogSlowThreshold = config.Duration(-time.Second) },
			"log.access_log_slow_threshold: must not be negative, got -1s"},
		{"global allow entry", func(c *config.Config) { c.IPFilter.Allow = []string{"10.0.0.0/8", "10.0.0.0/40"} },
			`ip_filter.allow[1]: "10.0.0.0/40" is not a CIDR`},
		{"global deny entry", func(c *config.Config) { c.IPFilter.Deny = []string{"*"} },
			`ip_filter.deny[0]: "*" is not an address`},
		{"class deny entry", func(c *config.Config) {
			c.IPFilter.Classes = map[string]config.IPFilterClass{"office": {Allow: []string{"192.0.2.0/24"}, Deny: []string{"2001:db8::1/32"}}}
		}, `ip_filter.classes.office.deny[0]: "2001:db8::1/32" has bits set past the prefix length: write "2001:db8::/32"`},
		{"class without name", func(c *config.Config) { c.IPFilter.Classes = map[string]config.IPFilterClass{"": {}} },
			"ip_filter.classes.: a class needs a name"},
		{"star with credentials", func(c *config.Config) {
			c.CORS.AllowedOrigins = []string{"*"}
			c.CORS.AllowCredentials = true
		}, `cors.allowed_origins[0]: "*" cannot be combined with cors.allow_credentials`},
		{"origin with path", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://shop.example.com/"} },
			`cors.allowed_origins[0]: "https://shop.example.com/" is not an origin`},
		{"origin without scheme", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"shop.example.com"} },
			`cors.allowed_origins[0]: "shop.example.com" is not an origin`},
		{"origin with inner wildcard", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://shop.*.example.com"} },
			`cors.allowed_origins[0]: "https://shop.*.example.com": a wildcard may only be a leading "*." of the host`},
		{"origin that is only a wildcard", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://*"} },
			`cors.allowed_origins[0]: "https://*": a wildcard may only be a leading "*." of the host`},
		{"origin in upper case", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://Shop.example.com"} },
			`cors.allowed_origins[0]: "https://Shop.example.com" must be written in lower case`},
		{"origin with bad port", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://shop.example.com:99999"} },
			`cors.allowed_origins[0]: "https://shop.example.com:99999" has an invalid port`},
		{"lower-case method", func(c *config.Config) { c.CORS.AllowedMethods = []string{"GET", "patch"} },
			`cors.allowed_methods[1]: "patch" must be written in upper case`},
		{"wildcard header", func(c *config.Config) { c.CORS.AllowedHeaders = []string{"*"} },
			"cors.allowed_headers[0]: wildcards are not supported: list each header name"},
		{"header with space", func(c *config.Config) { c.CORS.ExposedHeaders = []string{"X Request Id"} },
			`cors.exposed_headers[0]: "X Request Id" is not a valid header name`},
		{"duplicate header", func(c *config.Config) { c.CORS.AllowedHeaders = []string{"Authorization", "authorization"} },
			`cors.allowed_headers[1]: "authorization" duplicates cors.allowed_headers[0]`},
		{"empty method", func(c *config.Config) { c.CORS.AllowedMethods = []string{""} },
			"cors.allowed_methods[0]: must not be empty"},
		{"negative max age", func(c *config.Config) { c.CORS.MaxAge = config.Duration(-time.Second) },
			"cors.max_age: must not be negative, got -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
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

func TestValidateAcceptsEdgeFunctions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(c *config.Config)
	}{
		{"trusted proxies", func(c *config.Config) {
			c.Listen.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "::ffff:172.16.0.0/108"}
		}},
		{"sampling bounds", func(c *config.Config) { c.Log.AccessLogSampleRate, c.Log.AccessLogSlowThreshold = 0, 0 }},
		{"ip filter", func(c *config.Config) {
			c.IPFilter = config.IPFilter{
				Allow: []string{"0.0.0.0/0", "::/0"},
				Deny:  []string{"203.0.113.9"},
				Classes: map[string]config.IPFilterClass{
					"office":   {Allow: []string{"198.51.100.0/24", "2001:db8:1::/48"}},
					"no-rules": {},
				},
			}
		}},
		{"cors", func(c *config.Config) {
			c.CORS.AllowedOrigins = []string{"https://shop.example.com", "https://*.example.com", "http://localhost:3000", "http://[::1]:3000"}
			c.CORS.AllowCredentials = true
			c.CORS.AllowedMethods = []string{"GET", "POST"}
			c.CORS.AllowedHeaders = append(c.CORS.AllowedHeaders, "X-Tenant")
			c.CORS.MaxAge = 0
		}},
		{"cors every origin", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"*"} }},
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

func TestParsePrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::7", "2001:db8::7/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"::/0", "::/0"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParsePrefix(tc.in)
			if err != nil {
				t.Fatalf("ParsePrefix(%q): %v", tc.in, err)
			}
			if got != netip.MustParsePrefix(tc.want) {
				t.Errorf("ParsePrefix(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseEdgeFunctions(t *testing.T) {
	t.Parallel()
	got, err := config.Parse([]byte(`
listen:
  trusted_proxies: [10.0.0.0/8, "::1"]
log:
  access_log_sample_rate: 0.1
  access_log_slow_threshold: 250ms
ip_filter:
  deny: [203.0.113.0/24]
  classes:
    office:
      allow: [198.51.100.0/24]
cors:
  allowed_origins: ["https://*.example.com"]
  allow_credentials: true
  max_age: 1h
`), []string{"ARCHWAY_IP_FILTER_ALLOW=0.0.0.0/0, ::/0"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := config.Default()
	want.Listen.TrustedProxies = []string{"10.0.0.0/8", "::1"}
	want.Log.AccessLogSampleRate = 0.1
	want.Log.AccessLogSlowThreshold = config.Duration(250 * time.Millisecond)
	want.IPFilter = config.IPFilter{
		Allow:   []string{"0.0.0.0/0", "::/0"},
		Deny:    []string{"203.0.113.0/24"},
		Classes: map[string]config.IPFilterClass{"office": {Allow: []string{"198.51.100.0/24"}}},
	}
	want.CORS.AllowedOrigins = []string{"https://*.example.com"}
	want.CORS.AllowCredentials = true
	want.CORS.MaxAge = config.Duration(time.Hour)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
	}
	if p := got.Listen.TrustedProxyPrefixes(); !reflect.DeepEqual(p, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}) {
		t.Errorf("TrustedProxyPrefixes() = %v", p)
	}
	if !got.CORS.Enabled() || config.Default().CORS.Enabled() {
		t.Errorf("CORS.Enabled() = %v with origins, %v by default; want true, false", got.CORS.Enabled(), config.Default().CORS.Enabled())
	}
}
