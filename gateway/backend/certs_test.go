package backend_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/archway-gateway/archway/internal/certtest"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and "backend.test" and a
// client certificate, written as PEM files to a temporary directory.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
	server                                               tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := certtest.NewCA("archway test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Server("backend.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("gateway.test")
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{caFile: filepath.Join(dir, "ca.pem"), pool: ca.Pool(), server: server.TLS}
	if err := os.WriteFile(p.caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if p.serverCert, p.serverKey, err = server.WriteFiles(dir, "backend"); err != nil {
		t.Fatal(err)
	}
	if p.clientCert, p.clientKey, err = client.WriteFiles(dir, "gateway"); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverTLS is the TLS config of a backend that requires client certificates from the CA.
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}
