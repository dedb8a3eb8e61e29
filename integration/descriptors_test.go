package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// warehouseSet is the descriptor set of acme.inventory.v1.WarehouseService, a team's API that no
// Go code in this repository links in (`make generate` builds it with buf).
const warehouseSet = "testdata/warehouse.binpb"

// warehouseBackend is a team's gRPC server for WarehouseService, written without generated code:
// it reads the same descriptor set and answers with dynamic messages, echoing what it received
// where that shows the gateway translated the request.
type warehouseBackend struct {
	service protoreflect.ServiceDescriptor
	// identities records, per method, whether the call carried the gateway's signed identity.
	identities chan string
}

func startWarehouseBackend(t *testing.T) (*warehouseBackend, string) {
	t.Helper()
	data, err := os.ReadFile(warehouseSet)
	if err != nil {
		t.Fatal(err)
	}
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &fds); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(&fds)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName("acme.inventory.v1.WarehouseService")
	if err != nil {
		t.Fatal(err)
	}
	b := &warehouseBackend{service: d.(protoreflect.ServiceDescriptor), identities: make(chan string, 64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(b.serve))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return b, ln.Addr().String()
}

// serve answers every call of WarehouseService.
func (b *warehouseBackend) serve(_ any, stream grpc.ServerStream) error {
	full, _ := grpc.MethodFromServerStream(stream)
	svc, name, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	md := b.service.Methods().ByName(protoreflect.Name(name))
	if svc != string(b.service.FullName()) || md == nil {
		return status.Errorf(codes.Unimplemented, "unknown method %s", full)
	}
	if md.IsStreamingClient() {
		return b.scan(stream, md)
	}
	in := dynamicpb.NewMessage(md.Input())
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	if inMD, ok := metadata.FromIncomingContext(stream.Context()); ok && len(inMD.Get("x-archway-identity")) > 0 {
		b.identities <- name
	}
	get := func(field string) protoreflect.Value {
		return in.Get(md.Input().Fields().ByName(protoreflect.Name(field)))
	}
	send := func(js string) error {
		out := dynamicpb.NewMessage(md.Output())
		if err := protojson.Unmarshal([]byte(js), out); err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		return stream.SendMsg(out)
	}
	switch name {
	case "GetWarehouse":
		if get("name").String() != "warehouses/north" {
			return status.Errorf(codes.NotFound, "%s not found", get("name").String())
		}
		return send(`{"name":"warehouses/north","displayName":"North","bins":"40","open":true}`)
	case "ListWarehouses":
		return send(fmt.Sprintf(`{"warehouses":[{"name":"warehouses/%s-1","bins":"%d","open":%t}]}`,
			get("site").String()+"x", get("page_size").Int(), get("open_only").Bool()))
	case "CreateWarehouse":
		w := get("warehouse").Message()
		return send(fmt.Sprintf(`{"name":"warehouses/created","displayName":%q}`,
			w.Get(w.Descriptor().Fields().ByName("display_name")).String()))
	case "ReopenWarehouse":
		return send(fmt.Sprintf(`{"name":%q,"displayName":%q,"open":true,"reopenTime":"2026-04-01T08:00:00Z"}`,
			get("name").String(), get("reason").String()))
	case "WatchStock":
		for i := range 2 {
			if err := send(fmt.Sprintf(`{"sku":"sku-%d","count":"%d"}`, i, 10*i)); err != nil {
				return err
			}
		}
		return nil
	}
	return status.Errorf(codes.Unimplemented, "%s", name)
}

// scan serves ScanItems: after each request message, the running count of its SKU.
func (b *warehouseBackend) scan(stream grpc.ServerStream, md protoreflect.MethodDescriptor) error {
	counts := make(map[string]int64)
	for {
		in := dynamicpb.NewMessage(md.Input())
		if err := stream.RecvMsg(in); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		sku := in.Get(md.Input().Fields().ByName("sku")).String()
		counts[sku]++
		out := dynamicpb.NewMessage(md.Output())
		if err := protojson.Unmarshal(fmt.Appendf(nil, `{"sku":%q,"count":"%d"}`, sku, counts[sku]), out); err != nil {
			return err
		}
		if err := stream.SendMsg(out); err != nil {
			return err
		}
	}
}

// TestBinaryServesAnAPIItNeverSaw runs the unmodified archway binary with only a descriptor set
// of WarehouseService, which no code of the binary links in, in front of a team's backend: every
// route of the set answers, the default policy requires credentials (401 without), the policy
// options in the set make one route public and require a scope of another, and the backend
// receives the translated requests and the gateway's signed identity.
func TestBinaryServesAnAPIItNeverSaw(t *testing.T) {
	backend, addr := startWarehouseBackend(t)
	set, err := filepath.Abs(warehouseSet)
	if err != nil {
		t.Fatal(err)
	}
	writerKey := "warehouse-writer-key"
	sum := sha256.Sum256([]byte(writerKey))
	g := startGatewayConfig(t, fmt.Sprintf(`listen: {address: "127.0.0.1:0"}
admin: {enabled: true, address: "127.0.0.1:0"}
log: {format: json, level: info}
apis:
  - descriptor_set: %q
authn:
  api_keys:
    - {client_id: reader, sha256: %s, scopes: []}
    - {client_id: writer, sha256: %x, scopes: [inventory.write]}
backends:
  - name: warehouse
    address: %q
    services: [acme.inventory.v1.WarehouseService]
`, set, testAPIKeyHash, sum, addr))
	g.waitReady(t, 10*time.Second)

	plain := &http.Client{Timeout: requestTimeout}
	call := func(method, path, key, body string) (int, http.Header, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, g.api+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, data
	}
	tests := []struct {
		name, method, path, key, body string
		code                          int
		want                          string
	}{
		{"public by its option", "GET", "/v1/warehouses?pageSize=7&openOnly=true", "", "", 200,
			`{"warehouses":[{"name":"warehouses/x-1","bins":"7","open":true}]}`},
		{"additional binding", "GET", "/v1/sites/east/warehouses", "", "", 200,
			`{"warehouses":[{"name":"warehouses/eastx-1"}]}`},
		{"default policy: credentials required", "GET", "/v1/warehouses/north", "", "", 401, ""},
		{"authenticated", "GET", "/v1/warehouses/north", testAPIKey, "", 200,
			`{"name":"warehouses/north","displayName":"North","bins":"40","open":true}`},
		{"backend's NOT_FOUND", "GET", "/v1/warehouses/south", testAPIKey, "", 404, ""},
		{"unknown query parameter", "GET", "/v1/warehouses?colour=red", "", "", 400, ""},
		{"bad query value", "GET", "/v1/warehouses?pageSize=many", "", "", 400, ""},
		{"scope from the option missing", "POST", "/v1/warehouses", testAPIKey, `{"displayName":"West"}`, 403, ""},
		{"create answers 201", "POST", "/v1/warehouses", writerKey, `{"displayName":"West"}`, 201,
			`{"name":"warehouses/created","displayName":"West"}`},
		{"custom verb, body *", "POST", "/v1/warehouses/north:reopen", writerKey, `{"reason":"spring"}`, 200,
			`{"name":"warehouses/north","displayName":"spring","open":true,"reopenTime":"2026-04-01T08:00:00Z"}`},
		{"unknown verb", "POST", "/v1/warehouses/north:paint", writerKey, `{}`, 0, ""},
		{"405 with Allow", "DELETE", "/v1/warehouses/north", testAPIKey, "", 405, ""},
		{"server stream", "GET", "/v1/warehouses/north:watch", testAPIKey, "", 200,
			"{\"result\":{\"sku\":\"sku-0\"}}\n{\"result\":{\"sku\":\"sku-1\",\"count\":\"10\"}}\n"},
		{"bidirectional stream from an NDJSON body", "POST", "/v1/warehouses:scan", testAPIKey,
			"{\"sku\":\"a\"}\n{\"sku\":\"b\"}\n{\"sku\":\"a\"}\n", 200,
			"{\"result\":{\"sku\":\"a\",\"count\":\"1\"}}\n{\"result\":{\"sku\":\"b\",\"count\":\"1\"}}\n{\"result\":{\"sku\":\"a\",\"count\":\"2\"}}\n"},
		{"bad line in a request stream", "POST", "/v1/warehouses:scan", testAPIKey, "{\"sku\":\"a\"}\n{\"colour\":1}\n", 400, ""},
	}
	for _, tc := range tests {
		code, header, body := call(tc.method, tc.path, tc.key, tc.body)
		switch {
		case tc.code == 0 && code != 404 && code != 405:
			t.Errorf("%s: %s %s answered %d %s, want 404 or 405", tc.name, tc.method, tc.path, code, body)
		case tc.code != 0 && code != tc.code:
			t.Errorf("%s: %s %s answered %d %s, want %d", tc.name, tc.method, tc.path, code, body, tc.code)
		case tc.want != "" && string(body) != tc.want:
			t.Errorf("%s: %s %s answered %s, want %s", tc.name, tc.method, tc.path, body, tc.want)
		case code >= 400 && !json.Valid(body):
			t.Errorf("%s: error body %q is not JSON", tc.name, body)
		}
		if tc.code == 201 && header.Get("Location") != "/v1/warehouses/created" {
			t.Errorf("%s: Location %q, want /v1/warehouses/created", tc.name, header.Get("Location"))
		}
		if tc.code == 405 && !strings.Contains(header.Get("Allow"), "GET") {
			t.Errorf("%s: Allow %q, want GET among them", tc.name, header.Get("Allow"))
		}
	}
	// Every call that reached the backend carried the gateway's signed identity.
	close(backend.identities)
	var signed []string
	for m := range backend.identities {
		signed = append(signed, m)
	}
	if len(signed) < 6 {
		t.Errorf("the backend saw the signed identity on %d calls (%v), want every call", len(signed), signed)
	}
	// The start-up log names where the service came from.
	logs := g.logs.String()
	if !strings.Contains(logs, "service served from its descriptor set") || !bytes.Contains([]byte(logs), []byte("warehouse.binpb")) {
		t.Errorf("the gateway's log does not say the service came from its descriptor set:\n%s", logs)
	}
}

// TestBinaryRefusesAServiceInNoDescriptorSet: a backend naming a service that neither a
// descriptor set nor the binary defines is refused at start-up, with a message naming it.
func TestBinaryRefusesAServiceInNoDescriptorSet(t *testing.T) {
	set, err := filepath.Abs(warehouseSet)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "archway.yaml")
	yaml := fmt.Sprintf(`listen: {address: "127.0.0.1:0"}
apis:
  - descriptor_set: %q
backends:
  - name: warehouse
    address: 127.0.0.1:1
    services: [acme.inventory.v1.StoreroomService]
`, set)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "archway", binaries(t).archway, []string{"serve", "-config", cfg},
		[]string{"ARCHWAY_AUTHN_IDENTITY_SECRET=" + identitySecret})
	code, ok := p.wait(10 * time.Second)
	if !ok || code == 0 {
		t.Fatalf("archway did not exit with an error (exited: %v, code %d)", ok, code)
	}
	if logs := p.logs.String(); !strings.Contains(logs, "acme.inventory.v1.StoreroomService is in no descriptor set") {
		t.Errorf("the error does not name the service:\n%s", logs)
	}
}
