package tlsconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/tlsconfig"
	"github.com/archway-gateway/archway/internal/certtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup is a CA with a server certificate for 127.0.0.1 and a client certificate, written to a
// temporary folder.
type setup struct {
	ca                *certtest.CA
	client            *certtest.KeyPair
	dir               string
	certFile, keyFile string
	caFile            string
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	ca, err := certtest.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := &setup{ca: ca, dir: t.TempDir()}
	s.writeServer(t, ca)
	if s.client, err = ca.Client("tester"); err != nil {
		t.Fatal(err)
	}
	s.caFile = filepath.Join(s.dir, "ca.crt")
	if err := os.WriteFile(s.caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeServer writes a new server certificate signed by ca over the files, and returns it.
func (s *setup) writeServer(t *testing.T, ca *certtest.CA) *x509.Certificate {
	t.Helper()
	kp, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if s.certFile, s.keyFile, err = kp.WriteFiles(s.dir, "server"); err != nil {
		t.Fatal(err)
	}
	return kp.TLS.Leaf
}

func (s *setup) config(clientAuth string) config.TLS {
	c := config.Default().Listen.TLS
	c.CertFile, c.KeyFile = s.certFile, s.keyFile
	c.ReloadInterval = config.Duration(time.Millisecond)
	if clientAuth != "none" {
		c.ClientAuth, c.ClientCAFile = clientAuth, s.caFile
	}
	return c
}

// serve starts an HTTPS server with srv's configuration that answers with the protocol used.
func serve(t *testing.T, srv *tlsconfig.Server) string {
	t.Helper()
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	hs.TLS = srv.TLSConfig()
	hs.EnableHTTP2 = true
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return hs.Listener.Addr().String()
}

// dial makes a TLS handshake with the server and returns the connection state.
func dial(addr string, c *tls.Config) (tls.ConnectionState, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer func() { _ = conn.Close() }()
	// TLS 1.3 servers report a refused client certificate after the client's handshake ends:
	// a read surfaces it.
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
		return tls.ConnectionState{}, err
	}
	return conn.ConnectionState(), nil
}

// sendAnyway makes a client send kp even when the server's list of acceptable CAs does not name
// its issuer (Go clients would send nothing).
func sendAnyway(kp *certtest.KeyPair) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp.TLS, nil }
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestHandshakes(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	plain, err := tlsconfig.New(s.config("none"), tlsconfig.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	required, err := tlsconfig.New(s.config("require_and_verify"), tlsconfig.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	requested, err := tlsconfig.New(s.config("request"), tlsconfig.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	plainAddr, requiredAddr, requestedAddr := serve(t, plain), serve(t, required), serve(t, requested)
	otherCA, err := certtest.NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := otherCA.Client("stranger")
	if err != nil {
		t.Fatal(err)
	}
	base := func() *tls.Config { return &tls.Config{RootCAs: s.ca.Pool(), ServerName: "127.0.0.1"} }
	for _, tc := range []struct {
		name    string
		addr    string
		modify  func(c *tls.Config)
		ok      bool
		version uint16
		proto   string
	}{
		{"TLS 1.3 preferred", plainAddr, func(*tls.Config) {}, true, tls.VersionTLS13, ""},
		{"TLS 1.2 accepted", plainAddr, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, true, tls.VersionTLS12, ""},
		{"TLS 1.1 refused", plainAddr, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }, false, 0, ""},
		{"TLS 1.2 CBC suite refused", plainAddr, func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		}, false, 0, ""},
		{"HTTP/2 through ALPN", plainAddr, func(c *tls.Config) { c.NextProtos = []string{"h2", "http/1.1"} }, true, tls.VersionTLS13, "h2"},
		{"HTTP/1.1 through ALPN", plainAddr, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }, true, tls.VersionTLS13, "http/1.1"},
		{"mTLS without a client certificate refused", requiredAddr, func(*tls.Config) {}, false, 0, ""},
		{"mTLS over TLS 1.2 without a client certificate refused", requiredAddr, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, false, 0, ""},
		{"mTLS with a client certificate", requiredAddr, func(c *tls.Config) { c.Certificates = []tls.Certificate{s.client.TLS} }, true, tls.VersionTLS13, ""},
		{"mTLS with a certificate of another CA refused", requiredAddr, func(c *tls.Config) { c.GetClientCertificate = sendAnyway(stranger) }, false, 0, ""},
		{"optional client certificate left out", requestedAddr, func(*tls.Config) {}, true, tls.VersionTLS13, ""},
		{"optional client certificate of another CA refused", requestedAddr, func(c *tls.Config) { c.GetClientCertificate = sendAnyway(stranger) }, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			tc.modify(c)
			cs, err := dial(tc.addr, c)
			if !tc.ok {
				if err == nil {
					t.Fatalf("handshake succeeded with %s, want it refused", tls.VersionName(cs.Version))
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if cs.Version != tc.version {
				t.Errorf("version %s, want %s", tls.VersionName(cs.Version), tls.VersionName(tc.version))
			}
			if cs.NegotiatedProtocol != tc.proto {
				t.Errorf("ALPN protocol %q, want %q", cs.NegotiatedProtocol, tc.proto)
			}
		})
	}
}

// TestCertificateRotation rewrites the certificate and key while a connection is open: a new
// connection sees the new certificate, and the open one keeps working.
func TestCertificateRotation(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	reg := prometheus.NewPedanticRegistry()
	srv, err := tlsconfig.New(s.config("none"), tlsconfig.WithLogger(slog.New(slog.DiscardHandler)), tlsconfig.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool()}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	// get returns the protocol and the serial number of the certificate of one request.
	get := func() (string, *big.Int) {
		t.Helper()
		resp, err := client.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Proto, resp.TLS.PeerCertificates[0].SerialNumber
	}
	proto, oldSerial := get()
	if proto != "HTTP/2.0" {
		t.Errorf("protocol %s, want HTTP/2.0", proto)
	}

	// Same size files can keep the modification time on coarse clocks: move it on.
	newLeaf := s.writeServer(t, s.ca)
	later := time.Now().Add(2 * time.Second)
	for _, f := range []string{s.certFile, s.keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}

	if _, serial := get(); serial.Cmp(oldSerial) != 0 {
		t.Error("the open HTTP/2 connection changed certificate; want it kept")
	}
	fresh, err := dialUntil(addr, &tls.Config{RootCAs: s.ca.Pool(), ServerName: "127.0.0.1"}, newLeaf)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.PeerCertificates[0].SerialNumber.Cmp(newLeaf.SerialNumber) != 0 {
		t.Error("a new connection did not get the rotated certificate")
	}
	if got := reloads(t, reg, "ok"); got < 1 {
		t.Errorf("archway_tlsconfig_reloads_total{result=\"ok\"} = %v, want at least 1", got)
	}
}

// dialUntil dials until the server presents want (the reload happens at the first handshake
// after the reload interval), for at most 5 seconds.
func dialUntil(addr string, c *tls.Config, want *x509.Certificate) (tls.ConnectionState, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		cs, err := dial(addr, c)
		if err != nil || cs.PeerCertificates[0].SerialNumber.Cmp(want.SerialNumber) == 0 || time.Now().After(deadline) {
			return cs, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reloads returns the value of archway_tlsconfig_reloads_total{result=result} in reg.
func reloads(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "archway_tlsconfig_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestBrokenFilesKeepThePreviousCertificate: a half-written rotation (a certificate whose key
// is not there yet) is not loaded; the server keeps serving the previous pair until the key
// arrives.
func TestBrokenFilesKeepThePreviousCertificate(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	srv, err := tlsconfig.New(s.config("none"), tlsconfig.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)
	c := &tls.Config{RootCAs: s.ca.Pool(), ServerName: "127.0.0.1"}
	before, err := dial(addr, c)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := s.ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.certFile, kp.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err == nil || !strings.Contains(err.Error(), "listen.tls") {
		t.Fatalf("Reload with a mismatched key = %v, want an error naming listen.tls", err)
	}
	during, err := dial(addr, c)
	if err != nil {
		t.Fatalf("handshake during a half-written rotation: %v", err)
	}
	if during.PeerCertificates[0].SerialNumber.Cmp(before.PeerCertificates[0].SerialNumber) != 0 {
		t.Error("the server changed certificate while the key did not match")
	}
	if err := os.WriteFile(s.keyFile, kp.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatalf("Reload once the key arrived: %v", err)
	}
	after, err := dial(addr, c)
	if err != nil {
		t.Fatal(err)
	}
	if after.PeerCertificates[0].SerialNumber.Cmp(kp.TLS.Leaf.SerialNumber) != 0 {
		t.Error("the server did not pick up the completed rotation")
	}
}

// TestClientCARotation: replacing the client CA file changes which client certificates the
// server accepts, without a restart.
func TestClientCARotation(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	srv, err := tlsconfig.New(s.config("require_and_verify"), tlsconfig.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)
	newCA, err := certtest.NewCA("new client CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newClient, err := newCA.Client("tester")
	if err != nil {
		t.Fatal(err)
	}
	with := func(kp *certtest.KeyPair) *tls.Config {
		return &tls.Config{RootCAs: s.ca.Pool(), ServerName: "127.0.0.1", GetClientCertificate: sendAnyway(kp)}
	}
	if _, err := dial(addr, with(newClient)); err == nil {
		t.Fatal("a client of the new CA was accepted before the CA file changed")
	}
	if err := os.WriteFile(s.caFile, newCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, with(newClient)); err != nil {
		t.Errorf("a client of the new CA was refused after the CA file changed: %v", err)
	}
	if _, err := dial(addr, with(s.client)); err == nil {
		t.Error("a client of the removed CA was still accepted")
	}
}

func TestNewRefusesBrokenFiles(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	garbage := filepath.Join(s.dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		modify func(c *config.TLS)
		want   string
	}{
		{"no certificate", func(c *config.TLS) { c.CertFile = "" }, "listen.tls.cert_file is not set"},
		{"missing certificate", func(c *config.TLS) { c.CertFile = filepath.Join(s.dir, "missing.crt") }, "missing.crt"},
		{"garbage key", func(c *config.TLS) { c.KeyFile = garbage }, "listen.tls: load"},
		{"garbage client CA", func(c *config.TLS) { c.ClientAuth, c.ClientCAFile = "request", garbage }, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := s.config("none")
			tc.modify(&c)
			_, err := tlsconfig.New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
