// Package certtest makes throwaway X.509 certificates for tests and for trying TLS locally: a
// certificate authority, server certificates for the host names and addresses a test dials,
// and client certificates for mutual TLS. Keys are ECDSA P-256, made fresh each time and never
// meant to leave the machine; nothing here is fit for production.
//
// `make certs` writes a set to certs/ with the program internal/cmd/certs; see docs/tls.md.
package certtest
