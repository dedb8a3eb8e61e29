package backend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLS configures TLS towards a backend. The zero value dials in plaintext.
type TLS struct {
	// Enabled dials over TLS 1.2 or later.
	Enabled bool
	// CAFile is a PEM file of the authorities that sign the backend's certificate; "" uses the
	// system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM certificate and key the gateway presents (mTLS); both or
	// neither.
	CertFile, KeyFile string
	// ServerName is the name the backend's certificate must carry; "" uses the host dialled.
	ServerName string
}

// transportCredentials reads the files of t once, at dial time.
func transportCredentials(t TLS) (credentials.TransportCredentials, error) {
	if !t.Enabled {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file, tls.key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, errors.New("tls.cert_file and tls.key_file go together")
	}
	return credentials.NewTLS(cfg), nil
}
