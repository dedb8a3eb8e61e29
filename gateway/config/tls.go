package config

import (
	"strings"
	"time"
)

// TLS configures HTTPS on the public listener. It is on when CertFile is
// set. The protocol settings are fixed: TLS 1.2 or later, AEAD cipher
// suites with forward secrecy for TLS 1.2, and HTTP/2 offered through ALPN.
type TLS struct {
	// CertFile is the PEM file of the server certificate, followed by its
	// intermediates. The file is read again when it changes (see
	// ReloadInterval). By default empty: TLS is off.
	CertFile string `yaml:"cert_file"`

	// KeyFile is the PEM file of the certificate's private key. Required
	// with CertFile. By default empty.
	KeyFile string `yaml:"key_file"`

	// ClientCAFile is the PEM file of the certificate authorities that sign
	// client certificates (mTLS). Required when ClientAuth is not "none".
	// By default empty.
	ClientCAFile string `yaml:"client_ca_file"`

	// ClientAuth decides whether clients present certificates: "none" asks
	// for none; "request" asks for one and verifies it against
	// ClientCAFile when the client sends one; "require_and_verify" refuses
	// the handshake of a client without a certificate that ClientCAFile
	// verifies. By default "none".
	ClientAuth string `yaml:"client_auth"`

	// MinVersion is the oldest TLS version accepted: "1.2" or "1.3". The
	// newest version both sides support is used, so TLS 1.3 clients get
	// TLS 1.3 either way. By default "1.2".
	MinVersion string `yaml:"min_version"`

	// ReloadInterval is how often, at most, a handshake checks whether the
	// certificate, key or client CA files changed on disk; changed files
	// are loaded for the next handshakes, without a restart and without
	// closing open connections. Must be positive. By default 10s.
	ReloadInterval Duration `yaml:"reload_interval"`
}

// Enabled reports whether the listener serves HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

func defaultTLS() TLS {
	return TLS{ClientAuth: "none", MinVersion: "1.2", ReloadInterval: Duration(10 * time.Second)}
}

// checkEdgeLimits checks listen.tls, the redirect listener and the edge
// limits of the listen and api sections.
func (c *Config) checkEdgeLimits(ch *checker) {
	t := c.Listen.TLS
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		ch.failf("listen.tls.key_file", "must be set with listen.tls.cert_file")
	case t.CertFile == "" && t.KeyFile != "":
		ch.failf("listen.tls.cert_file", "must be set with listen.tls.key_file")
	}
	ch.oneOf("listen.tls.client_auth", t.ClientAuth, "none", "request", "require_and_verify")
	switch {
	case (t.ClientAuth == "request" || t.ClientAuth == "require_and_verify") && t.ClientCAFile == "":
		ch.failf("listen.tls.client_ca_file", "must be set when listen.tls.client_auth is %q", t.ClientAuth)
	case t.ClientAuth == "none" && t.ClientCAFile != "":
		ch.failf("listen.tls.client_auth", "is \"none\", so listen.tls.client_ca_file would be unused: set \"request\" or \"require_and_verify\"")
	}
	if t.ClientCAFile != "" && !t.Enabled() {
		ch.failf("listen.tls.client_ca_file", "needs listen.tls.cert_file: client certificates are only asked for over TLS")
	}
	ch.oneOf("listen.tls.min_version", t.MinVersion, "1.2", "1.3")
	ch.positive("listen.tls.reload_interval", t.ReloadInterval)

	if c.Listen.RedirectAddress != "" {
		ch.listenAddress("listen.redirect_address", c.Listen.RedirectAddress)
		if !t.Enabled() {
			ch.failf("listen.redirect_address", "needs listen.tls.cert_file: it redirects to HTTPS")
		}
		if c.Listen.RedirectAddress == c.Listen.Address && !strings.HasSuffix(c.Listen.Address, ":0") {
			ch.failf("listen.redirect_address", "must differ from listen.address, got %q for both", c.Listen.Address)
		}
	}
	if p := c.Listen.RedirectPort; p < 0 || p > 65535 {
		ch.failf("listen.redirect_port", "must be from 0 to 65535, got %d", p)
	}
	if n := c.Listen.HTTP2MaxConcurrentStreams; n <= 0 {
		ch.failf("listen.http2_max_concurrent_streams", "must be positive, got %d", n)
	}
	if n := c.Listen.MaxInFlightRequests; n <= 0 {
		ch.failf("listen.max_in_flight_requests", "must be positive, got %d", n)
	}
	ch.positive("api.max_grpc_timeout", c.API.MaxGRPCTimeout)
	if n := c.API.MaxJSONDepth; n <= 0 {
		ch.failf("api.max_json_depth", "must be positive, got %d", n)
	}
}
