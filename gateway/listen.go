package gateway

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/archway-gateway/archway/gateway/tlsconfig"
)

// Listeners are the listeners [Gateway.ServeListeners] serves on. API is required; the others
// may be nil.
type Listeners struct {
	// API serves the REST API and /healthz and /readyz: over HTTPS when listen.tls is set.
	API net.Listener
	// Admin serves the admin endpoints (detailed readiness, metrics, pprof).
	Admin net.Listener
	// Redirect answers every request with a redirect to HTTPS (listen.redirect_address); it
	// is served only when listen.tls is set.
	Redirect net.Listener
}

// server is one http.Server of the gateway and the listener it serves.
type server struct {
	name string
	srv  *http.Server
	ln   net.Listener
	tls  bool
}

func (s *server) serve() error {
	if s.tls {
		// The certificate comes from srv.TLSConfig (tlsconfig.Server), not from files.
		return s.srv.ServeTLS(s.ln, "", "")
	}
	return s.srv.Serve(s.ln)
}

// newServers builds the http.Servers for lns, with the limits and timeouts of listen.
func (g *Gateway) newServers(lns Listeners) ([]*server, error) {
	l := g.cfg.Listen
	errorLog := slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn)
	api := &server{name: "api", ln: lns.API, srv: &http.Server{
		Handler:           g.handler,
		ConnContext:       withFramingConn,
		ReadHeaderTimeout: l.ReadHeaderTimeout.D(),
		ReadTimeout:       l.ReadTimeout.D(),
		WriteTimeout:      l.WriteTimeout.D(),
		IdleTimeout:       l.IdleTimeout.D(),
		MaxHeaderBytes:    l.MaxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: l.HTTP2MaxConcurrentStreams},
		ErrorLog:          errorLog,
	}}
	if l.TLS.Enabled() {
		ts, err := tlsconfig.New(l.TLS, tlsconfig.WithLogger(g.logger), tlsconfig.WithRegisterer(g.edge.tel.Registerer()))
		if err != nil {
			return nil, err
		}
		api.srv.TLSConfig = ts.TLSConfig()
		api.tls = true
	} else {
		// Over TLS the server reads the plaintext from the tls.Conn itself, out of the
		// guard's sight (see framing.go).
		api.ln = framingListener{lns.API}
	}
	servers := []*server{api}
	if lns.Admin != nil {
		servers = append(servers, &server{name: "admin", ln: lns.Admin, srv: &http.Server{
			Handler:           g.AdminHandler(),
			ReadHeaderTimeout: l.ReadHeaderTimeout.D(),
			ErrorLog:          errorLog,
		}})
	}
	if lns.Redirect != nil {
		if !api.tls {
			return nil, errors.New("a redirect listener needs listen.tls: it redirects to HTTPS")
		}
		port := l.RedirectPort
		if port == 0 {
			port = listenerPort(lns.API)
		}
		servers = append(servers, &server{name: "redirect", ln: lns.Redirect, srv: &http.Server{
			Handler:           tlsconfig.RedirectHandler(port),
			ReadHeaderTimeout: l.ReadHeaderTimeout.D(),
			ReadTimeout:       l.ReadHeaderTimeout.D(),
			WriteTimeout:      l.ReadHeaderTimeout.D(),
			IdleTimeout:       l.IdleTimeout.D(),
			MaxHeaderBytes:    l.MaxHeaderBytes,
			ErrorLog:          errorLog,
		}})
	}
	return servers, nil
}

// listenerPort returns the TCP port ln listens on, or 443 when it has none.
func listenerPort(ln net.Listener) int {
	if _, p, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			return n
		}
	}
	return 443
}
