// Package gateway stands in for grpc-gateway's examples/internal/gateway in the temporary copy
// of its example integration suite that integration/grpcgateway prepares: Run keeps the example
// gateway's signature, but the gateway it serves is Archway's, built with gateway.New from the
// configuration file named by GGSUITE_CONFIG and the same generated Register…Handler
// functions. It listens on a free loopback port and records which port the test asked for, so
// that the suite's transport (portmap_test.go) can send the test's fixed ports there.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	archway "github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/grpc-ecosystem/grpc-gateway/v2/examples/internal/proto/examplepb"
	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// Endpoint describes a gRPC endpoint, as in the example gateway.
type Endpoint struct {
	Network, Addr string
}

// Options are the example gateway's options. OpenAPIDir is not used: Archway serves its own
// OpenAPI documents.
type Options struct {
	Addr       string
	GRPCServer Endpoint
	OpenAPIDir string
	Mux        []gwruntime.ServeMuxOption
}

// services are the example services, by full name, with their generated handlers: the ones the
// example gateway registers, but for UnannotatedEchoService. Its bindings come from a gRPC API
// configuration file (grpc_api_configuration), not from google.api.http options, and Archway
// reads every route and its policy from those options: gateway.New refuses its handlers. The
// suite's tests of that service fail with 404.
var services = map[string]archway.RegisterFunc{
	examplepb.EchoService_ServiceDesc.ServiceName:             examplepb.RegisterEchoServiceHandler,
	examplepb.StreamService_ServiceDesc.ServiceName:           examplepb.RegisterStreamServiceHandler,
	examplepb.ABitOfEverythingService_ServiceDesc.ServiceName: examplepb.RegisterABitOfEverythingServiceHandler,
	examplepb.FlowCombination_ServiceDesc.ServiceName:         examplepb.RegisterFlowCombinationHandler,
	examplepb.ExcessBodyService_ServiceDesc.ServiceName:       examplepb.RegisterExcessBodyServiceHandler,
	examplepb.NonStandardService_ServiceDesc.ServiceName:      examplepb.RegisterNonStandardServiceHandler,
	examplepb.ResponseBodyService_ServiceDesc.ServiceName:     examplepb.RegisterResponseBodyServiceHandler,
}

// Services returns the full names of the example services that Run serves.
func Services() []string {
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	return names
}

// WithServices returns the gateway options that link every example service's handlers in.
func WithServices() []archway.Option {
	opts := make([]archway.Option, 0, len(services))
	for name, register := range services {
		opts = append(opts, archway.WithService(name, register))
	}
	return opts
}

// honoured are the mux options that Archway has a counterpart for, by the name of the function
// that made them, with that counterpart. The suite's main gateway asks for legacy header
// matching (Grpc-Metadata-X headers forwarded as metadata X); Archway forwards Grpc-Metadata-X
// for the names in api.forward_headers, which the configuration files list.
var honoured = map[string]string{
	"WithIncomingHeaderMatcher": "api.forward_headers",
}

// CannotRun marks the error of a gateway that Run cannot build because the test asks for a mux
// option Archway does not offer; the harness counts such a test as one that cannot run.
const CannotRun = "archway-ggsuite: cannot run: needs mux option"

// optionName names the grpc-gateway function that made a mux option (WithMarshalerOption for
// the closure it returns): the last With… in the closure's name, which also names the
// functions it was inlined into.
func optionName(opt gwruntime.ServeMuxOption) string {
	name := ""
	if f := runtime.FuncForPC(reflect.ValueOf(opt).Pointer()); f != nil {
		name = f.Name()
	}
	for _, part := range strings.Split(name, ".") {
		if strings.HasPrefix(part, "With") {
			name = part
		}
	}
	return "runtime." + strings.TrimPrefix(name, "runtime.")
}

var (
	mu    sync.Mutex
	ports = map[string]string{}
)

// Addr returns the address of the gateway that a test started for port (such as "8088"), if any.
func Addr(port string) (string, bool) {
	mu.Lock()
	defer mu.Unlock()
	a, ok := ports[port]
	return a, ok
}

// New builds an Archway gateway for the example services from base, the text of a
// configuration file without backends: it adds one backend that serves every example service at
// ep. The caller closes the gateway.
func New(ctx context.Context, base []byte, ep Endpoint) (*archway.Gateway, error) {
	target := ep.Addr
	if ep.Network == "unix" {
		abs, err := filepath.Abs(ep.Addr)
		if err != nil {
			return nil, err
		}
		target = "unix://" + abs
	}
	yaml := string(base) + "\nbackends:\n  - name: examples\n    address: " + target + "\n    services:\n"
	for name := range services {
		yaml += "      - " + name + "\n"
	}
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	return archway.New(ctx, cfg, append(WithServices(), archway.WithLogger(logger))...)
}

// WaitBackend waits until the example gRPC server accepts connections.
func WaitBackend(ctx context.Context, ep Endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, ep.Network, ep.Addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the example gRPC server at %s: %w", ep.Addr, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Run serves an Archway gateway for the example services until ctx ends.
func Run(ctx context.Context, opts Options) error {
	for _, opt := range opts.Mux {
		if name := optionName(opt); honoured[strings.TrimPrefix(name, "runtime.")] == "" {
			return fmt.Errorf("%s %s, which Archway does not offer", CannotRun, name)
		}
	}
	path := os.Getenv("GGSUITE_CONFIG")
	if path == "" {
		return errors.New("GGSUITE_CONFIG names no configuration file")
	}
	base, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := WaitBackend(ctx, opts.GRPCServer); err != nil {
		return err
	}
	gw, err := New(ctx, base, opts.GRPCServer)
	if err != nil {
		return err
	}
	defer gw.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return err
	}
	mu.Lock()
	ports[port] = ln.Addr().String()
	mu.Unlock()
	s := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
