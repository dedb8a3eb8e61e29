package config_test

import (
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/config"
)

func withTLS(c *config.Config) {
	c.Listen.TLS.CertFile, c.Listen.TLS.KeyFile = "server.crt", "server.key"
}

func TestValidateEdgeLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(c *config.Config)
		want   string // the whole problem, path first; "" when the config is valid
	}{
		{"tls", withTLS, ""},
		{"mutual tls", func(c *config.Config) {
			withTLS(c)
			c.Listen.TLS.ClientCAFile, c.Listen.TLS.ClientAuth = "ca.crt", "require_and_verify"
		}, ""},
		{"optional client certificates", func(c *config.Config) {
			withTLS(c)
			c.Listen.TLS.ClientCAFile, c.Listen.TLS.ClientAuth, c.Listen.TLS.MinVersion = "ca.crt", "request", "1.3"
		}, ""},
		{"redirect listener", func(c *config.Config) {
			withTLS(c)
			c.Listen.RedirectAddress, c.Listen.RedirectPort = ":8081", 443
		}, ""},
		{"cert without key", func(c *config.Config) { c.Listen.TLS.CertFile = "server.crt" },
			"listen.tls.key_file: must be set with listen.tls.cert_file"},
		{"key without cert", func(c *config.Config) { c.Listen.TLS.KeyFile = "server.key" },
			"listen.tls.cert_file: must be set with listen.tls.key_file"},
		{"client auth mode", func(c *config.Config) { withTLS(c); c.Listen.TLS.ClientAuth = "optional" },
			`listen.tls.client_auth: must be one of "none", "request" or "require_and_verify", got "optional"`},
		{"client auth without CA", func(c *config.Config) { withTLS(c); c.Listen.TLS.ClientAuth = "require_and_verify" },
			`listen.tls.client_ca_file: must be set when listen.tls.client_auth is "require_and_verify"`},
		{"CA without client auth", func(c *config.Config) { withTLS(c); c.Listen.TLS.ClientCAFile = "ca.crt" },
			`listen.tls.client_auth: is "none", so listen.tls.client_ca_file would be unused`},
		{"client CA without TLS", func(c *config.Config) {
			c.Listen.TLS.ClientCAFile, c.Listen.TLS.ClientAuth = "ca.crt", "request"
		}, "listen.tls.client_ca_file: needs listen.tls.cert_file"},
		{"TLS 1.1", func(c *config.Config) { withTLS(c); c.Listen.TLS.MinVersion = "1.1" },
			`listen.tls.min_version: must be "1.2" or "1.3", got "1.1"`},
		{"reload interval", func(c *config.Config) { c.Listen.TLS.ReloadInterval = 0 },
			"listen.tls.reload_interval: must be positive, got 0s"},
		{"redirect without TLS", func(c *config.Config) { c.Listen.RedirectAddress = ":8081" },
			"listen.redirect_address: needs listen.tls.cert_file"},
		{"redirect address", func(c *config.Config) { withTLS(c); c.Listen.RedirectAddress = "8081" },
			`listen.redirect_address: want host:port`},
		{"redirect on the API address", func(c *config.Config) { withTLS(c); c.Listen.RedirectAddress = c.Listen.Address },
			`listen.redirect_address: must differ from listen.address, got ":8080" for both`},
		{"redirect port", func(c *config.Config) { c.Listen.RedirectPort = 65536 },
			"listen.redirect_port: must be from 0 to 65535, got 65536"},
		{"HTTP/2 streams", func(c *config.Config) { c.Listen.HTTP2MaxConcurrentStreams = 0 },
			"listen.http2_max_concurrent_streams: must be positive, got 0"},
		{"in-flight limit", func(c *config.Config) { c.Listen.MaxInFlightRequests = -1 },
			"listen.max_in_flight_requests: must be positive, got -1"},
		{"Grpc-Timeout cap", func(c *config.Config) { c.API.MaxGRPCTimeout = 0 },
			"api.max_grpc_timeout: must be positive, got 0s"},
		{"JSON depth", func(c *config.Config) { c.API.MaxJSONDepth = 0 },
			"api.max_json_depth: must be positive, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tc.modify(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("Validate() = nil, want %q", tc.want)
			case !strings.HasPrefix(strings.TrimPrefix(err.Error(), "config.Validate: "), tc.want):
				t.Errorf("Validate() = %q\nwant config.Validate: %q", err, tc.want)
			}
		})
	}
}

func TestTLSFromEnvironment(t *testing.T) {
	t.Parallel()
	c, err := config.Parse(nil, []string{
		"ARCHWAY_LISTEN_TLS_CERT_FILE=/etc/archway/tls.crt",
		"ARCHWAY_LISTEN_TLS_KEY_FILE=/etc/archway/tls.key",
		"ARCHWAY_LISTEN_REDIRECT_ADDRESS=:8081",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Listen.TLS.Enabled() || c.Listen.TLS.KeyFile != "/etc/archway/tls.key" || c.Listen.RedirectAddress != ":8081" {
		t.Errorf("listen = %+v", c.Listen)
	}
}
