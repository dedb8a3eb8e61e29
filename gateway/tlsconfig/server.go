package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/archway-gateway/archway/gateway/config"
)

// cipherSuites are the TLS 1.2 suites offered: ECDHE key exchange (forward secrecy) with an
// AEAD cipher. TLS 1.3 suites are all AEAD and not configurable.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns the TLS 1.2 cipher suites the server offers.
func CipherSuites() []uint16 { return append([]uint16(nil), cipherSuites...) }

// nextProtos are offered through ALPN, HTTP/2 first.
var nextProtos = []string{"h2", "http/1.1"}

// Server holds the edge listener's TLS configuration and reloads it when its files change.
// Create it with [New]; it is safe for concurrent use.
type Server struct {
	cfg      config.TLS
	interval time.Duration
	logger   *slog.Logger

	current atomic.Pointer[tls.Config]
	// nextCheck is when, in Unix nanoseconds, a handshake next looks at the files.
	nextCheck atomic.Int64
	// mu is held by the one goroutine that checks or loads the files; stamps is what it saw
	// at the last successful load.
	mu     sync.Mutex
	stamps []stamp

	reloads  *prometheus.CounterVec
	notAfter atomic.Int64
}

// stamp identifies a version of a file cheaply.
type stamp struct {
	size    int64
	modTime time.Time
}

// New loads the files named by cfg, which must be valid with cfg.Enabled() true, and returns
// a Server that serves them. It fails when a file cannot be read or parsed, so a gateway with
// a broken certificate does not start.
func New(cfg config.TLS, opts ...Option) (*Server, error) {
	if !cfg.Enabled() {
		return nil, fmt.Errorf("tlsconfig.New: %w", errNotEnabled)
	}
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{
		cfg:      cfg,
		interval: cfg.ReloadInterval.D(),
		logger:   o.logger,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archway_tlsconfig_reloads_total",
			Help: "Reloads of the TLS certificate, key and client CA files after they changed, by result.",
		}, []string{"result"}),
	}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("tlsconfig.New: %w", err)
	}
	if o.reg != nil {
		if err := o.reg.Register(s.reloads); err != nil {
			return nil, fmt.Errorf("tlsconfig.New: %w", err)
		}
		expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "archway_tlsconfig_certificate_expiry_timestamp_seconds",
			Help: "When the server certificate in use expires, in Unix seconds.",
		}, func() float64 { return float64(s.notAfter.Load()) })
		if err := o.reg.Register(expiry); err != nil {
			return nil, fmt.Errorf("tlsconfig.New: %w", err)
		}
	}
	return s, nil
}

// TLSConfig returns the configuration to give to http.Server.TLSConfig (or tls.NewListener):
// every handshake gets the current certificate, key and client CAs from it.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         minVersion(s.cfg.MinVersion),
		NextProtos:         nextProtos,
		GetConfigForClient: s.configForClient,
	}
}

// Reload loads the files now if they changed since the last load. A handshake calls it at most
// once per reload interval; call it directly to pick up a change at once (on SIGHUP, say). On
// error the previous configuration stays in use.
func (s *Server) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked()
}

func (s *Server) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	if now := time.Now().UnixNano(); now >= s.nextCheck.Load() && s.mu.TryLock() {
		s.nextCheck.Store(now + int64(s.interval))
		_ = s.reloadLocked()
		s.mu.Unlock()
	}
	return s.current.Load(), nil
}

// reloadLocked loads the files when their stamps changed; s.mu is held.
func (s *Server) reloadLocked() error {
	stamps, err := s.stat()
	if err != nil {
		s.reloads.WithLabelValues("error").Inc()
		s.logger.Warn("TLS files cannot be checked; the previous certificate stays in use", slog.Any("error", err))
		return err
	}
	if equalStamps(stamps, s.stamps) {
		return nil
	}
	if err := s.load(); err != nil {
		s.reloads.WithLabelValues("error").Inc()
		s.logger.Warn("TLS files changed but cannot be loaded; the previous certificate stays in use", slog.Any("error", err))
		return err
	}
	s.reloads.WithLabelValues("ok").Inc()
	s.logger.Info("TLS files reloaded", slog.String("cert_file", s.cfg.CertFile),
		slog.Time("not_after", time.Unix(s.notAfter.Load(), 0)))
	return nil
}

// files are the paths the configuration is loaded from.
func (s *Server) files() []string {
	f := []string{s.cfg.CertFile, s.cfg.KeyFile}
	if s.cfg.ClientCAFile != "" {
		f = append(f, s.cfg.ClientCAFile)
	}
	return f
}

func (s *Server) stat() ([]stamp, error) {
	files := s.files()
	stamps := make([]stamp, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		stamps[i] = stamp{size: fi.Size(), modTime: fi.ModTime()}
	}
	return stamps, nil
}

func equalStamps(a, b []stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].size != b[i].size || !a[i].modTime.Equal(b[i].modTime) {
			return false
		}
	}
	return true
}

// load reads the files and installs the configuration they make. The stamps are taken before
// the files are read, so a file replaced while it is read is loaded again at the next check.
func (s *Server) load() error {
	stamps, err := s.stat()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("listen.tls: load %s and %s: %w", s.cfg.CertFile, s.cfg.KeyFile, err)
	}
	c := &tls.Config{
		MinVersion:   minVersion(s.cfg.MinVersion),
		CipherSuites: cipherSuites,
		NextProtos:   nextProtos,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   clientAuth(s.cfg.ClientAuth),
	}
	if s.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(s.cfg.ClientCAFile)
		if err != nil {
			return fmt.Errorf("listen.tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("listen.tls.client_ca_file: %s holds no PEM certificate", s.cfg.ClientCAFile)
		}
		c.ClientCAs = pool
		// A resumed session skips verification, and would outlive a client CA that was
		// removed from the file: clients with certificates always make a full handshake.
		c.SessionTicketsDisabled = true
	}
	s.stamps = stamps
	s.notAfter.Store(cert.Leaf.NotAfter.Unix())
	s.current.Store(c)
	return nil
}

func minVersion(v string) uint16 {
	if v == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

func clientAuth(mode string) tls.ClientAuthType {
	switch mode {
	case "request":
		return tls.VerifyClientCertIfGiven
	case "require_and_verify":
		return tls.RequireAndVerifyClientCert
	default:
		return tls.NoClientCert
	}
}

// errNotEnabled is returned by New for a configuration without a certificate.
var errNotEnabled = errors.New("listen.tls.cert_file is not set")
