package integration_test

// Archway's own tests of what grpc-gateway's suite cannot see, against the same example
// services: each starts its own example gRPC server and its own Archway gateway, so that it
// neither depends on the suite's configuration nor changes the state the suite's tests read.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpc-ecosystem/grpc-gateway/v2/examples/internal/gateway"
	"github.com/grpc-ecosystem/grpc-gateway/v2/examples/internal/server"
)

// serveExamples starts the example gRPC server on a loopback port and an Archway gateway for it
// configured by base (without backends); it returns the gateway's URL.
func serveExamples(t *testing.T, base string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = server.ServeGRPC(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = ln.Close()
	})
	gw, err := gateway.New(ctx, []byte(base), gateway.Endpoint{Network: "tcp", Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

// binding is one HTTP binding of a method: its verb, a path that matches its template, and
// whether it takes a body.
type binding struct {
	method string // full gRPC method name
	verb   string
	path   string
	body   bool
}

// variable matches a path variable of an HTTP template: {name} or {name=segments}.
var variable = regexp.MustCompile(`\{([^}=]+)(=([^}]*))?\}`)

// samplePath fills a template's variables with values that match them.
func samplePath(template string) string {
	return variable.ReplaceAllStringFunc(template, func(v string) string {
		m := variable.FindStringSubmatch(v)
		if m[3] == "" {
			return "x"
		}
		segs := strings.Split(m[3], "/")
		for i, s := range segs {
			if s == "*" || s == "**" {
				segs[i] = "x"
			}
		}
		return strings.Join(segs, "/")
	})
}

// bindings lists every HTTP binding (additional bindings included) of every example service the
// gateway serves, read from their google.api.http options.
func bindings(t *testing.T) []binding {
	t.Helper()
	var out []binding
	for _, name := range gateway.Services() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		sd := d.(protoreflect.ServiceDescriptor)
		n := 0
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil {
				continue
			}
			for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				verb, template := ruleVerb(r)
				if template == "" {
					continue
				}
				out = append(out, binding{method: string(md.FullName()), verb: verb, path: samplePath(template), body: r.GetBody() != ""})
				n++
			}
		}
		if n == 0 {
			t.Errorf("service %s: no HTTP binding found", name)
		}
	}
	return out
}

func ruleVerb(r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Custom:
		return p.Custom.GetKind(), p.Custom.GetPath()
	}
	return "", ""
}

// call sends one request for b and returns its status code, with the given extra header.
func call(t *testing.T, base string, b binding, header http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var body io.Reader
	if b.body {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, b.verb, base+b.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if b.body {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", b.verb, b.path, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestArchwayAuthnEveryBinding checks that, with the default policy "authenticated", no HTTP
// binding of any example service answers a request without credentials, or with a wrong key,
// with anything but 401; and that the right key gets past authentication (so a 401 means what
// it says, not a route the gateway does not serve) on every binding but ExcessBodyService's,
// whose handlers block until a test of the suite takes their call from a channel.
func TestArchwayAuthnEveryBinding(t *testing.T) {
	const key = "ggsuite-test-key"
	sum := sha256.Sum256([]byte(key))
	base := serveExamples(t, `
admin: {enabled: false}
log: {access_log: false}
policy: {defaults: {access: authenticated, rate_limit_class: none, timeout: 1s}}
authn:
  api_keys: [{client_id: suite, sha256: `+hex.EncodeToString(sum[:])+`}]
  failed_attempts: {requests: 0}
`)
	all := bindings(t)
	if len(all) < 40 {
		t.Fatalf("found %d bindings; the example services declare more", len(all))
	}
	for _, b := range all {
		if got := call(t, base, b, nil); got != http.StatusUnauthorized {
			t.Errorf("%s (%s) %s without credentials: status %d, want 401", b.verb, b.method, b.path, got)
		}
		if got := call(t, base, b, http.Header{"X-Api-Key": {"wrong"}}); got != http.StatusUnauthorized {
			t.Errorf("%s (%s) %s with a wrong key: status %d, want 401", b.verb, b.method, b.path, got)
		}
		if strings.Contains(b.method, ".ExcessBodyService.") {
			continue
		}
		if got := call(t, base, b, http.Header{"X-Api-Key": {key}}); got == http.StatusUnauthorized {
			t.Errorf("%s (%s) %s with the right key: status 401", b.verb, b.method, b.path)
		}
	}
}

// TestArchwayErrorMetadata checks that a backend's allowlisted response metadata reaches the
// client on a failing call: Lookup of an unknown uuid sends header metadata "uuid" and trailer
// metadata "foo" before it answers NOT_FOUND.
func TestArchwayErrorMetadata(t *testing.T) {
	base := serveExamples(t, `
admin: {enabled: false}
log: {access_log: false}
policy: {defaults: {access: public, rate_limit_class: none}}
api: {forward_response_headers: [uuid, foo]}
`)
	req, err := http.NewRequest(http.MethodGet, base+"/v1/example/a_bit_of_everything/not_exist", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("TE", "trailers")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Uuid"); got != "not_exist" {
		t.Errorf("header Uuid = %q, want %q (the backend's header metadata on an error)", got, "not_exist")
	}
	if got := resp.Trailer.Get("Foo"); got != "foo2" {
		t.Errorf("trailer Foo = %q, want %q (the backend's trailer metadata on an error)", got, "foo2")
	}
	if got := resp.Header.Get("Bar"); got != "" {
		t.Errorf("header Bar = %q: metadata outside the allowlist reached the client", got)
	}
}
