package certtest_test

import (
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/archway-gateway/archway/internal/certtest"
)

func TestCertificatesVerify(t *testing.T) {
	t.Parallel()
	ca, err := certtest.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Server("localhost", "127.0.0.1", "::1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("tester")
	if err != nil {
		t.Fatal(err)
	}
	other, err := certtest.NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		kp    *certtest.KeyPair
		roots *x509.CertPool
		host  string
		usage x509.ExtKeyUsage
		ok    bool
	}{
		{"server by name", server, ca.Pool(), "localhost", x509.ExtKeyUsageServerAuth, true},
		{"server by IPv4", server, ca.Pool(), "127.0.0.1", x509.ExtKeyUsageServerAuth, true},
		{"server by IPv6", server, ca.Pool(), "::1", x509.ExtKeyUsageServerAuth, true},
		{"server by another name", server, ca.Pool(), "example.com", x509.ExtKeyUsageServerAuth, false},
		{"server under another CA", server, other.Pool(), "localhost", x509.ExtKeyUsageServerAuth, false},
		{"server as a client", server, ca.Pool(), "", x509.ExtKeyUsageClientAuth, false},
		{"client", client, ca.Pool(), "", x509.ExtKeyUsageClientAuth, true},
		{"client as a server", client, ca.Pool(), "", x509.ExtKeyUsageServerAuth, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.kp.TLS.Leaf.Verify(x509.VerifyOptions{
				DNSName: tc.host, Roots: tc.roots, KeyUsages: []x509.ExtKeyUsage{tc.usage},
			})
			if (err == nil) != tc.ok {
				t.Errorf("Verify = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	t.Parallel()
	ca, err := certtest.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Server("localhost")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := kp.WriteFiles(t.TempDir(), "server")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if got, err := os.ReadFile(certFile); err != nil || string(got) != string(kp.CertPEM) {
		t.Errorf("cert file = %q, %v", got, err)
	}
}
