package gateway

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	_ "google.golang.org/protobuf/types/known/emptypb"

	"github.com/archway-gateway/archway/gateway/composite"
	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
)

var templateVar = regexp.MustCompile(`\{[^}=]+=([^}]*)\}`)

// TestRouteTableMatchesMux checks that for every HTTP binding of every linked service, the
// pattern grpc-gateway reports when it matches a request is the key under which the route table
// holds that binding; otherwise query checking would silently skip the route.
func TestRouteTableMatchesMux(t *testing.T) {
	t.Parallel()
	names := slices.Sorted(maps.Keys(builtinServices))
	routes, err := buildRoutes(append(slices.Clone(names), composite.ServiceName))
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 15 {
		t.Fatalf("only %d routes read from the descriptors", len(routes))
	}
	conn, err := grpc.NewClient("passthrough:///unused", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var matched string
	mux := runtime.NewServeMux(runtime.WithMiddlewares(func(runtime.HandlerFunc) runtime.HandlerFunc {
		return func(_ http.ResponseWriter, r *http.Request, _ map[string]string) {
			p, _ := runtime.HTTPPattern(r.Context())
			matched = r.Method + " " + p.String()
		}
	}))
	for _, name := range names {
		if err := builtinServices[name](t.Context(), mux, conn); err != nil {
			t.Fatal(err)
		}
	}
	// Registered last, as in New: the composites' verb routes must win over the plain ones.
	if err := edgev1.RegisterCompositeServiceHandlerServer(t.Context(), mux, edgev1.UnimplementedCompositeServiceServer{}); err != nil {
		t.Fatal(err)
	}
	for key, r := range routes {
		t.Run(key, func(t *testing.T) {
			path := templateVar.ReplaceAllStringFunc(r.pattern, func(v string) string {
				return strings.ReplaceAll(templateVar.FindStringSubmatch(v)[1], "*", "x1")
			})
			matched = ""
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.httpMethod, path, nil))
			if _, ok := routes[matched]; !ok || matched != key {
				t.Errorf("request %s %s matched %q, want %q in the route table", r.httpMethod, path, matched, key)
			}
		})
	}
}

func TestQueryProblems(t *testing.T) {
	t.Parallel()
	routes, err := buildRoutes(slices.Sorted(maps.Keys(builtinServices)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		route string
		key   string
		want  string
	}{
		{"GET /v1/users", "page_size", ""},
		{"GET /v1/users", "pageSize", ""},
		{"GET /v1/users", "created_after", ""},
		{"GET /v1/users", "tags", ""},
		{"GET /v1/users", "colour", "unknown parameter"},
		{"GET /v1/users", "created_after.seconds", "unknown parameter"},
		{"GET /v1/products", "price.min_minor", ""},
		{"GET /v1/products", "price.minMinor", ""},
		{"GET /v1/products", "price.cheap", "unknown parameter"},
		{"GET /v1/products", "read_mask", ""},
		{"GET /v1/{name=users/*}", "name", "the field is set by the URL path"},
		{"PATCH /v1/{user.name=users/*}", "update_mask", ""},
		{"PATCH /v1/{user.name=users/*}", "user.email", "the field is set by the request body"},
		{"POST /v1/products/{product_id=*}/stock:adjust", "delta", "this operation takes its input from the request body, not the query string"},
	}
	for _, tc := range tests {
		t.Run(tc.route+"?"+tc.key, func(t *testing.T) {
			t.Parallel()
			r, ok := routes[tc.route]
			if !ok {
				t.Fatalf("no route %s", tc.route)
			}
			if got := r.queryProblem(tc.key); got != tc.want {
				t.Errorf("queryProblem(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

// TestRoutesDeclaredTwiceAreRefused: when two methods declare the same HTTP method and pattern,
// the mux serves one of them while the table could name the other's policy, so building the
// table fails and names both.
func TestRoutesDeclaredTwiceAreRefused(t *testing.T) {
	get := func(path string) *descriptorpb.MethodOptions {
		opts := &descriptorpb.MethodOptions{}
		proto.SetExtension(opts, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: path}})
		return opts
	}
	method := func(name, path string) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{
			Name: proto.String(name), InputType: proto.String(".twice.v1.ThingRequest"),
			OutputType: proto.String(".google.protobuf.Empty"), Options: get(path),
		}
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("twice.proto"), Package: proto.String("twice.v1"), Syntax: proto.String("proto3"),
		Dependency: []string{"google/protobuf/empty.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("ThingRequest"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("id"), Number: proto.Int32(1), JsonName: proto.String("id"),
				Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("ThingService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("GetThing", "/v1/things/{id}"),
				method("ListThings", "/v1/things"),
				method("FetchThing", "/v1/things/{id}"),
			},
		}},
	}, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	_, err = routesOf([]protoreflect.ServiceDescriptor{fd.Services().Get(0)})
	if err == nil {
		t.Fatal("routesOf accepted two methods bound to GET /v1/things/{id}")
	}
	for _, want := range []string{"GET /v1/things/{id=*}", "twice.v1.ThingService/GetThing", "twice.v1.ThingService/FetchThing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
