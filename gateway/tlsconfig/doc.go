// Package tlsconfig terminates TLS at the edge: it builds the server's *tls.Config from the
// listen.tls section (TLS 1.2 at least, AEAD cipher suites with forward secrecy for TLS 1.2,
// HTTP/2 and HTTP/1.1 through ALPN, optional client certificates) and keeps it up to date as
// the certificate, key and client CA files change on disk.
//
// Certificates are short-lived and rotated by tools that rewrite files (cert-manager, certbot,
// a mounted Kubernetes secret), so a restart per rotation would drop connections for nothing.
// Instead every handshake asks the [Server] for the current configuration, and at most once
// per reload interval one handshake checks the files' sizes and modification times (a few
// stat calls) and loads them again when they changed. Open connections keep the
// configuration they started with; new ones get the new certificate. Files that fail to load
// (a key not yet written next to its new certificate, say) are logged and retried at the next
// check, while the previous certificate stays in use.
//
// The package also serves the optional plain-HTTP listener that only redirects to HTTPS
// ([RedirectHandler]).
package tlsconfig
