package integration_test

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/examples/internal/gateway"
)

// The suite's tests start their gateways on fixed ports (8088, 8081, 8087…) and call
// http://localhost:PORT. The stand-in gateway package listens on free loopback ports instead;
// this transport sends each of the suite's fixed ports to the gateway started for it. Other
// ports (the servers of archway_test.go) are dialled as they are. Port 8089 is the example
// server's in-process grpc-gateway mux: its calls go to the main Archway gateway (8088), so
// that every call of the suite reaches Archway.
var fixedPorts = map[string]bool{"7079": true, "7080": true, "8081": true, "8082": true, "8087": true, "8088": true, "8089": true}

func init() {
	t := http.DefaultTransport.(*http.Transport)
	dialer := &net.Dialer{}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if !fixedPorts[port] {
			return dialer.DialContext(ctx, network, addr)
		}
		if port == "8089" {
			port = "8088"
		}
		real, ok := gateway.Addr(port)
		if !ok {
			return nil, fmt.Errorf("archway-ggsuite: no gateway started for port %s yet", port)
		}
		return dialer.DialContext(ctx, network, real)
	}
}
