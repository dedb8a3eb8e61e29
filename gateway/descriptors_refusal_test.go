package gateway_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	policyv1 "github.com/archway-gateway/archway/gen/archway/policy/v1"
)

// thingMethod is one method of a test service: its name, HTTP rule and route policy (nil for
// none).
type thingMethod struct {
	name   string
	rule   *annotations.HttpRule
	policy *policyv1.RoutePolicy
}

// thingsFile is a proto file of package pkg with a message Thing {string id; string title} and a
// service ThingService with methods taking and returning a Thing.
func thingsFile(pkg string, methods ...thingMethod) *descriptorpb.FileDescriptorProto {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	f := &descriptorpb.FileDescriptorProto{
		Name: proto.String(strings.ReplaceAll(pkg, ".", "/") + "/things.proto"), Package: proto.String(pkg),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/api/annotations.proto", "archway/policy/v1/policy.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Thing"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("id"), Number: proto.Int32(1), JsonName: proto.String("id"), Type: str, Label: opt},
				{Name: proto.String("title"), Number: proto.Int32(2), JsonName: proto.String("title"), Type: str, Label: opt},
			},
		}},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("ThingService")}},
	}
	for _, m := range methods {
		opts := &descriptorpb.MethodOptions{}
		proto.SetExtension(opts, annotations.E_Http, m.rule)
		if m.policy != nil {
			proto.SetExtension(opts, policyv1.E_Route, m.policy)
		}
		f.Service[0].Method = append(f.Service[0].Method, &descriptorpb.MethodDescriptorProto{
			Name: proto.String(m.name), InputType: proto.String("." + pkg + ".Thing"),
			OutputType: proto.String("." + pkg + ".Thing"), Options: opts,
		})
	}
	return f
}

// writeSet writes files, preceded by their imports from the linked descriptors unless
// withoutImports, as a descriptor set; it returns its path.
func writeSet(t *testing.T, name string, withoutImports bool, files ...*descriptorpb.FileDescriptorProto) string {
	t.Helper()
	var all []*descriptorpb.FileDescriptorProto
	if !withoutImports {
		seen := make(map[string]bool)
		var add func(fd protoreflect.FileDescriptor)
		add = func(fd protoreflect.FileDescriptor) {
			if seen[fd.Path()] {
				return
			}
			seen[fd.Path()] = true
			for i := range fd.Imports().Len() {
				add(fd.Imports().Get(i).FileDescriptor)
			}
			all = append(all, protodesc.ToFileDescriptorProto(fd))
		}
		for _, path := range []string{"google/api/annotations.proto", "archway/policy/v1/policy.proto"} {
			fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
			if err != nil {
				t.Fatal(err)
			}
			add(fd)
		}
	}
	data, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: append(all, files...)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func getRule(path string) *annotations.HttpRule {
	return &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: path}}
}

// TestDescriptorSetsRefused: every bad descriptor set, and every bad use of one, fails New with
// an error that names the file (or the service) and the problem.
func TestDescriptorSetsRefused(t *testing.T) {
	t.Parallel()
	good := func(pkg string) *descriptorpb.FileDescriptorProto {
		return thingsFile(pkg, thingMethod{name: "GetThing", rule: getRule("/v1/things/{id}")})
	}
	garbage := filepath.Join(t.TempDir(), "garbage.binpb")
	if err := os.WriteFile(garbage, []byte("not a descriptor set\xff\xff"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		sets     []string
		services []string
		policy   string
		want     []string
	}{
		{
			name: "missing file", sets: []string{"/nonexistent/things.binpb"}, services: []string{"acme.things.v1.ThingService"},
			want: []string{"/nonexistent/things.binpb", "no such file"},
		},
		{
			name: "not a descriptor set", sets: []string{garbage}, services: []string{"acme.things.v1.ThingService"},
			want: []string{"garbage.binpb", "not a serialized google.protobuf.FileDescriptorSet"},
		},
		{
			name: "missing import", sets: []string{writeSet(t, "noimports.binpb", true, good("acme.things.v1"))},
			services: []string{"acme.things.v1.ThingService"},
			want:     []string{"noimports.binpb", `acme/things/v1/things.proto imports "google/api/annotations.proto"`, "--include_imports"},
		},
		{
			name: "service in no set", sets: []string{writeSet(t, "things.binpb", false, good("acme.things.v1"))},
			services: []string{"acme.things.v1.OtherService"},
			want:     []string{"acme.things.v1.OtherService is in no descriptor set"},
		},
		{
			name: "service in two sets",
			sets: []string{
				writeSet(t, "first.binpb", false, good("acme.things.v1")),
				writeSet(t, "second.binpb", false, good("acme.things.v1")),
			},
			services: []string{"acme.things.v1.ThingService"},
			want:     []string{"second.binpb", "acme.things.v1.ThingService is also defined in", "first.binpb"},
		},
		{
			name: "two APIs bind one method and pattern",
			sets: []string{
				writeSet(t, "things.binpb", false, good("acme.things.v1")),
				writeSet(t, "gadgets.binpb", false, good("acme.gadgets.v1")),
			},
			services: []string{"acme.things.v1.ThingService", "acme.gadgets.v1.ThingService"},
			want: []string{"route GET /v1/things/{id=*} is declared by both", "acme.things.v1.ThingService/GetThing",
				"acme.gadgets.v1.ThingService/GetThing", "things.binpb", "gadgets.binpb"},
		},
		{
			name: "a described API binds a linked one's route",
			sets: []string{writeSet(t, "users.binpb", false, thingsFile("acme.things.v1",
				thingMethod{name: "GetThing", rule: getRule("/v1/{id=users/*}")}))},
			services: []string{"acme.things.v1.ThingService", "storefront.users.v1.UserService"},
			want: []string{"GET /v1/{id=users/*}", "GET /v1/{name=users/*}", "match the same requests",
				"storefront.users.v1.UserService/GetUser", "acme.things.v1.ThingService/GetThing", "users.binpb"},
		},
		{
			name: "unknown policy class",
			sets: []string{writeSet(t, "things.binpb", false, thingsFile("acme.things.v1",
				thingMethod{name: "GetThing", rule: getRule("/v1/things/{id}"), policy: &policyv1.RoutePolicy{RateLimitClass: "gold"}}))},
			services: []string{"acme.things.v1.ThingService"},
			want:     []string{"acme.things.v1.ThingService/GetThing", `rate-limit class "gold" is not configured`, "things.binpb"},
		},
		{
			name: "malformed path template",
			sets: []string{writeSet(t, "things.binpb", false, thingsFile("acme.things.v1",
				thingMethod{name: "GetThing", rule: getRule("/v1/things/{id")}))},
			services: []string{"acme.things.v1.ThingService"},
			want:     []string{"things.binpb", "acme.things.v1.ThingService.GetThing", `path template "/v1/things/{id"`, "not closed"},
		},
		{
			name: "variable naming no field",
			sets: []string{writeSet(t, "things.binpb", false, thingsFile("acme.things.v1",
				thingMethod{name: "GetThing", rule: getRule("/v1/things/{thing_id}")}))},
			services: []string{"acme.things.v1.ThingService"},
			want:     []string{"things.binpb", "acme.things.v1.ThingService.GetThing", `variable "thing_id"`, "no field"},
		},
		{
			name: "body naming no field",
			sets: []string{writeSet(t, "things.binpb", false, thingsFile("acme.things.v1",
				thingMethod{name: "AddThing", rule: &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/things"}, Body: "thing"}}))},
			services: []string{"acme.things.v1.ThingService"},
			want:     []string{"things.binpb", "acme.things.v1.ThingService.AddThing", `body "thing"`, "has no field"},
		},
		{
			name: "body path through a scalar",
			sets: []string{writeSet(t, "things.binpb", false, thingsFile("acme.things.v1",
				thingMethod{name: "AddThing", rule: &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/things"}, Body: "title.text"}}))},
			services: []string{"acme.things.v1.ThingService"},
			want:     []string{"things.binpb", "acme.things.v1.ThingService.AddThing", `body "title.text"`, `field "title" is not a singular message`},
		},
		{
			name: "rule without a pattern",
			sets: []string{writeSet(t, "things.binpb", false, thingsFile("acme.things.v1",
				thingMethod{name: "GetThing", rule: &annotations.HttpRule{Body: "*"}}))},
			services: []string{"acme.things.v1.ThingService"},
			want:     []string{"things.binpb", "acme.things.v1.ThingService.GetThing", "sets no pattern"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var yaml strings.Builder
			yaml.WriteString("admin: {enabled: false}\napis:\n")
			for _, s := range tc.sets {
				yaml.WriteString("  - descriptor_set: " + s + "\n")
			}
			yaml.WriteString("backends:\n  - name: things\n    address: 127.0.0.1:1\n    services: [" + strings.Join(tc.services, ", ") + "]\n")
			cfg, err := config.Parse([]byte(yaml.String()), nil)
			if err != nil {
				t.Fatal(err)
			}
			gw, err := gateway.New(t.Context(), cfg, gateway.WithLogger(slog.New(slog.DiscardHandler)))
			if err == nil {
				_ = gw.Close()
				t.Fatal("New accepted it")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestDescriptorSetPolicyFromOptions: the route policy of a service loaded from a descriptor set
// comes from the archway.policy.v1 options in the set: a public method answers without
// credentials, a method without the option gets the default (authenticated) policy.
func TestDescriptorSetPolicyFromOptions(t *testing.T) {
	t.Parallel()
	set := writeSet(t, "things.binpb", false, thingsFile("acme.things.v1",
		thingMethod{name: "GetThing", rule: getRule("/v1/things/{id}"), policy: &policyv1.RoutePolicy{Access: policyv1.Access_ACCESS_PUBLIC}},
		thingMethod{name: "ListThings", rule: getRule("/v1/things")}))
	_, url := serveGateway(t, "admin: {enabled: false}\nlog: {access_log: false}\napis:\n  - descriptor_set: "+set+`
backends:
  - name: things
    address: 127.0.0.1:1
    services: [acme.things.v1.ThingService]
`+testAuthn)
	for path, want := range map[string]int{"/v1/things/a": 503, "/v1/things": 401} {
		resp, body := do(t, "GET", url+path, "", map[string]string{"X-Api-Key": ""})
		if resp.StatusCode != want {
			t.Errorf("GET %s without credentials answered %d %s, want %d", path, resp.StatusCode, body, want)
		}
	}
}

// TestOpenAPIIndexListsLoadedAPIs: /openapi/ lists the published documents and every served API,
// a service loaded from a descriptor set included, with its routes and their access, although no
// document describes it; a linked service names its document.
func TestOpenAPIIndexListsLoadedAPIs(t *testing.T) {
	t.Parallel()
	set := writeSet(t, "things.binpb", false, thingsFile("acme.things.v1",
		thingMethod{name: "GetThing", rule: getRule("/v1/things/{id}"), policy: &policyv1.RoutePolicy{Access: policyv1.Access_ACCESS_PUBLIC}},
		thingMethod{name: "AddThing", rule: &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/things"}, Body: "*"},
			policy: &policyv1.RoutePolicy{Scopes: []string{"things.write"}}}))
	_, url := serveGateway(t, "admin: {enabled: false}\nlog: {access_log: false}\napis:\n  - descriptor_set: "+set+`
backends:
  - name: things
    address: 127.0.0.1:1
    services: [acme.things.v1.ThingService]
  - name: users
    address: 127.0.0.1:1
    services: [storefront.users.v1.UserService]
`+testAuthn)
	resp, err := http.Get(url + "/openapi/")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var index struct {
		Documents []string `json:"documents"`
		APIs      []struct {
			Service, Source, Document string
			Routes                    []struct {
				Method, Pattern, RPC string
				Authenticated        bool
				Scopes               []string
			}
		} `json:"apis"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi/: %d, %v", resp.StatusCode, err)
	}
	if !slices.Contains(index.Documents, "/openapi/v2/archway.swagger.json") {
		t.Errorf("documents %q do not list the v2 document", index.Documents)
	}
	got, _ := json.Marshal(index.APIs)
	want := `[{"Service":"acme.things.v1.ThingService","Source":"descriptor_set","Document":"","Routes":[` +
		`{"Method":"POST","Pattern":"/v1/things","RPC":"/acme.things.v1.ThingService/AddThing","Authenticated":true,"Scopes":["things.write"]},` +
		`{"Method":"GET","Pattern":"/v1/things/{id=*}","RPC":"/acme.things.v1.ThingService/GetThing","Authenticated":false,"Scopes":null}]},` +
		`{"Service":"storefront.users.v1.UserService","Source":"linked","Document":"/openapi/v3/storefront/users/v1/users.openapi.json","Routes":[`
	if !strings.HasPrefix(string(got), want) {
		t.Errorf("apis = %s\nwant it to start with %s", got, want)
	}
}
