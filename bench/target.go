package bench

// Target names, in report order.
const (
	TargetGRPC        = "grpc-direct"
	TargetArchway     = "archway"
	TargetArchwayProd = "archway-prod"
	// TargetArchwayCached runs only the cached-get workload.
	TargetArchwayCached = "archway-cached"
	TargetGRPCGateway   = "grpc-gateway"
	TargetVanguard      = "vanguard"
	TargetJSON          = "json-direct"
	TargetNginx         = "nginx"
)

// Target is one way of serving the workloads, in front of the same backend.
type Target struct {
	// Name identifies the target in flags and the report.
	Name string
	// Description says what runs, for the report.
	Description string
	// Translates is false for the pure proxy references (json-direct, nginx), which serve
	// canned JSON instead of calling the gRPC backend.
	Translates bool
	// Skip, when set, is why the target is not run.
	Skip string
}

// Targets returns every target, the skipped ones included, with nginx skipped when it is not
// installed.
func Targets() []Target {
	return []Target{
		{Name: TargetGRPC, Translates: true, Description: "the load generator calls the storefront backend over gRPC (HTTP/2, one connection): the floor"},
		{Name: TargetArchway, Translates: true, Description: "Archway with its default edge chain (recover, request id, method-override strip, " +
			"body limit, strict query and body checks, Status errors); every route public, access log, metrics, rate limiting, response cache and admin listener off"},
		{Name: TargetArchwayProd, Translates: true, Description: "Archway with the production chain: an API key required on every route, the caller's identity " +
			"signed onto every backend call, a rate limit that is never hit (in memory), the access log (JSON, every request, to a file) and " +
			"Prometheus metrics on; tracing, response cache and admin listener off"},
		{Name: TargetArchwayCached, Translates: true, Description: "Archway with the chain of the archway target and the response cache on " +
			"(in memory, with its debug header): every request of the cached-get workload after the first is a hit; runs cached-get only"},
		{Name: TargetGRPCGateway, Translates: true, Description: "a bare grpc-gateway runtime.NewServeMux() with default options and the generated Register…Handler functions"},
		{Name: TargetVanguard, Translates: true, Description: "connectrpc.com/vanguard transcoding REST to gRPC, forwarded to the backend by an h2c httputil.ReverseProxy"},
		{Name: TargetJSON, Description: "a Go net/http server answering with the same JSON bytes as the backend's responses, no proxy: the reference for nginx"},
		{Name: TargetNginx, Skip: NginxSkipReason(), Description: "nginx (worker_processes 1, upstream keep-alive) as a plain HTTP reverse proxy to the json-direct server"},
	}
}
