package gateway_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/archway-gateway/archway/gateway"
	testapiv1 "github.com/archway-gateway/archway/internal/testapi/gen/archway/testapi/v1"
)

// fakeFiles is the test API's FileService. Its downloads send the header and trailer metadata
// "x-ratelimit-remaining: 7" (header), "x-checksum: abc" (trailer) and "foo: foo1" (header) /
// "foo: foo2" (trailer); the file "files/missing" is NOT_FOUND, after the metadata, and the
// stream of "files/broken" fails after its first chunk.
type fakeFiles struct {
	testapiv1.UnimplementedFileServiceServer
	// uploads receives the requests of UploadFile and ReplaceFileContent.
	uploads chan *httpbody.HttpBody
	// updates receives the requests of UpdateFile.
	updates chan *testapiv1.UpdateFileRequest
}

// pngChunks are the messages of StreamFileContent; csvContent is the content of
// GetFileContent. Both hold brackets enough to look like deep JSON.
var (
	pngChunks  = []string{"\x89PNG\r\n", "\x1a\n", "[[[[{{{{", "\n\n"}
	csvContent = "id,name\n1,{[\"ada\"\n"
)

var (
	fileHeader  = metadata.Pairs("x-ratelimit-remaining", "7", "foo", "foo1")
	fileTrailer = metadata.Pairs("x-checksum", "abc", "foo", "foo2")
)

func (f *fakeFiles) sendMetadata(ctx context.Context) error {
	if err := grpc.SetHeader(ctx, fileHeader); err != nil {
		return err
	}
	return grpc.SetTrailer(ctx, fileTrailer)
}

func (f *fakeFiles) GetFileContent(ctx context.Context, req *testapiv1.GetFileContentRequest) (*httpbody.HttpBody, error) {
	if err := f.sendMetadata(ctx); err != nil {
		return nil, err
	}
	if req.GetName() == "files/missing" {
		return nil, status.Error(codes.NotFound, "no such file")
	}
	return &httpbody.HttpBody{ContentType: "text/csv", Data: []byte(csvContent)}, nil
}

func (f *fakeFiles) StreamFileContent(req *testapiv1.GetFileContentRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	if err := stream.SendHeader(fileHeader); err != nil {
		return err
	}
	if req.GetName() == "files/missing" {
		return status.Error(codes.NotFound, "no such file")
	}
	for _, chunk := range pngChunks {
		if err := stream.Send(&httpbody.HttpBody{ContentType: "image/png", Data: []byte(chunk)}); err != nil {
			return err
		}
		if req.GetName() == "files/broken" {
			return status.Error(codes.DataLoss, "disk failed")
		}
	}
	return nil
}

func (f *fakeFiles) UploadFile(_ context.Context, req *httpbody.HttpBody) (*testapiv1.File, error) {
	f.uploads <- req
	return &testapiv1.File{Name: "files/new", ContentType: req.GetContentType(), Size: int64(len(req.GetData()))}, nil
}

func (f *fakeFiles) ReplaceFileContent(_ context.Context, req *testapiv1.ReplaceFileContentRequest) (*testapiv1.File, error) {
	f.uploads <- req.GetContent()
	return &testapiv1.File{Name: req.GetName(), BodySet: req.Content != nil}, nil
}

func (f *fakeFiles) UpdateFile(_ context.Context, req *testapiv1.UpdateFileRequest) (*testapiv1.File, error) {
	f.updates <- req
	return &testapiv1.File{Name: "files/" + req.GetName(), BodySet: req.File != nil}, nil
}

// testAPIEnv is a gateway serving one service of the test API (internal/testapi), public, in
// front of a fake on an in-memory listener.
type testAPIEnv struct {
	// url is the gateway's address over HTTP/1.1; h2url and h2 serve it over HTTP/2 (TLS).
	url   string
	h2url string
	h2    *http.Client
}

// newTestAPIEnv registers the fake with register on an in-memory gRPC server, and serves the
// service svc through a gateway whose REST handlers come from handlers; extra is added to the
// configuration.
func newTestAPIEnv(t *testing.T, svc string, register func(*grpc.Server), handlers gateway.RegisterFunc, extra string) *testAPIEnv {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	yaml := `
admin: {enabled: false}
log: {access_log: false}
backends:
  - {name: testapi, address: "passthrough:///testapi", services: [` + svc + `]}
policy: {defaults: {access: public}}
` + extra
	dialer := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
	gw, url := serveGateway(t, yaml, gateway.WithService(svc, handlers), gateway.WithDialOptions(dialer))
	h2 := httptest.NewUnstartedServer(gw.Handler())
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	return &testAPIEnv{url: url, h2url: h2.URL, h2: h2.Client()}
}

// filesEnv is a gateway serving the test API's FileService (public, metadata allowlisted) in
// front of a fakeFiles.
type filesEnv struct {
	*testAPIEnv
	files *fakeFiles
}

// newFilesEnv starts the fake and a gateway for it; api holds extra settings of the api section,
// such as "max_request_body_bytes: 1024".
func newFilesEnv(t *testing.T, api string) *filesEnv {
	t.Helper()
	files := &fakeFiles{uploads: make(chan *httpbody.HttpBody, 1), updates: make(chan *testapiv1.UpdateFileRequest, 1)}
	env := newTestAPIEnv(t, testapiv1.FileService_ServiceDesc.ServiceName,
		func(s *grpc.Server) { testapiv1.RegisterFileServiceServer(s, files) }, testapiv1.RegisterFileServiceHandler,
		"api: {forward_response_headers: [x-ratelimit-remaining, x-checksum, foo], "+api+"}\n")
	return &filesEnv{testAPIEnv: env, files: files}
}

// filesReply is what a test reads of a response: its body is read and closed, so its trailers
// are there.
type filesReply struct {
	StatusCode      int
	Header, Trailer http.Header
}

// send sends a request over HTTP/1.1 (or HTTP/2 when h2 is set) and returns the response with
// its body read.
func (env *filesEnv) send(t *testing.T, h2 bool, method, path, contentType, body string, header http.Header) (filesReply, []byte) {
	t.Helper()
	base, client := env.url, http.DefaultClient
	if h2 {
		base, client = env.h2url, env.h2
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if h2 && resp.ProtoMajor != 2 {
		t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
	}
	return filesReply{StatusCode: resp.StatusCode, Header: resp.Header, Trailer: resp.Trailer}, b
}

var acceptTrailers = http.Header{"Te": {"trailers"}}

// TestErrorsKeepResponseMetadata: a backend that fails after sending allowlisted header and
// trailer metadata (a rate-limit header, a trailer) has them forwarded on the error answer as on
// a success: unary calls, and server streams that fail before their first message.
func TestErrorsKeepResponseMetadata(t *testing.T) {
	t.Parallel()
	env := newFilesEnv(t, "")
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			h2 := proto == "HTTP/2"
			resp, body := env.send(t, h2, http.MethodGet, "/v1/files/missing:content", "", "", acceptTrailers)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"code":5`) {
				t.Fatalf("answer %d %s, want 404 NOT_FOUND", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Ratelimit-Remaining"); got != "7" {
				t.Errorf("error answer: header X-Ratelimit-Remaining = %q, want 7", got)
			}
			if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
				t.Errorf("error answer: trailer X-Checksum = %q, want abc (trailers %v)", got, resp.Trailer)
			}

			resp, body = env.send(t, h2, http.MethodGet, "/v1/files/missing:stream", "", "", nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("stream: answer %d %s, want 404", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Ratelimit-Remaining"); got != "7" {
				t.Errorf("stream error: header X-Ratelimit-Remaining = %q, want 7", got)
			}
		})
	}
}

// TestTrailerKeepsItsOwnValue: a backend using one key for header and trailer metadata
// ("foo: foo1" and "foo: foo2") gets each value in its own section, over HTTP/1.1 and HTTP/2.
func TestTrailerKeepsItsOwnValue(t *testing.T) {
	t.Parallel()
	env := newFilesEnv(t, "")
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			resp, body := env.send(t, proto == "HTTP/2", http.MethodGet, "/v1/files/a:content", "", "", acceptTrailers)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("answer %d %s", resp.StatusCode, body)
			}
			if got := resp.Header.Values("Foo"); len(got) != 1 || got[0] != "foo1" {
				t.Errorf("header Foo = %q, want [foo1]", got)
			}
			if got := resp.Trailer.Values("Foo"); len(got) != 1 || got[0] != "foo2" {
				t.Errorf("trailer Foo = %q, want [foo2]", got)
			}
			if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
				t.Errorf("trailer X-Checksum = %q, want abc", got)
			}
			// Without TE: trailers, no trailers.
			resp, _ = env.send(t, proto == "HTTP/2", http.MethodGet, "/v1/files/a:content", "", "", nil)
			if len(resp.Trailer) != 0 {
				t.Errorf("trailers %v sent to a client that did not accept them", resp.Trailer)
			}
		})
	}
}

// TestHTTPBodyDownload: a method returning google.api.HttpBody answers with the bare data and
// its content type; a stream of them sends the chunks back to back under the first one's
// content type, Server-Sent Events asked for or not. Both are sandboxed, since the backend
// chooses the content type; a JSON answer is not.
func TestHTTPBodyDownload(t *testing.T) {
	t.Parallel()
	env := newFilesEnv(t, "")
	resp, body := env.send(t, false, http.MethodGet, "/v1/files/a:content", "", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv" || string(body) != csvContent {
		t.Errorf("unary: answer %d, Content-Type %q, body %q; want 200 text/csv %q",
			resp.StatusCode, resp.Header.Get("Content-Type"), body, csvContent)
	}
	want := strings.Join(pngChunks, "")
	for _, accept := range []string{"", "text/event-stream", "application/json"} {
		resp, body = env.send(t, false, http.MethodGet, "/v1/files/a:stream", "", "", http.Header{"Accept": {accept}})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || string(body) != want {
			t.Errorf("stream (Accept %q): answer %d, Content-Type %q, body %q; want 200 image/png %q",
				accept, resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != "sandbox" {
			t.Errorf("stream (Accept %q): Content-Security-Policy %q, want sandbox", accept, got)
		}
	}
}

// TestHTTPBodyStreamFailingIsCutOff: a download stream that fails after its first bytes must
// not end like a complete file, nor with an error object appended to the content.
func TestHTTPBodyStreamFailingIsCutOff(t *testing.T) {
	t.Parallel()
	env := newFilesEnv(t, "")
	for _, h2 := range []bool{false, true} {
		base, client := env.url, http.DefaultClient
		if h2 {
			base, client = env.h2url, env.h2
		}
		resp, err := client.Get(base + "/v1/files/broken:stream")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err == nil {
			t.Errorf("HTTP/2 %v: the failed stream ended cleanly, body %q", h2, body)
		}
		if string(body) != pngChunks[0] {
			t.Errorf("HTTP/2 %v: body %q, want only the first chunk %q", h2, body, pngChunks[0])
		}
	}
}

// TestHTTPBodyUpload: a request body bound to google.api.HttpBody (body "*" on an HttpBody
// request, or body "content" naming an HttpBody field) reaches the backend as raw data with the
// request's Content-Type, brackets and all (no JSON nesting limit), and the body limit holds.
func TestHTTPBodyUpload(t *testing.T) {
	t.Parallel()
	env := newFilesEnv(t, "max_request_body_bytes: 1024, max_json_depth: 8")
	content := strings.Repeat("[{", 100) + "\x00\xff"
	for _, path := range []string{"/v1/files:upload", "/v1/files/a:content"} {
		method := http.MethodPost
		if strings.HasSuffix(path, ":content") {
			method = http.MethodPut
		}
		resp, body := env.send(t, false, method, path, "image/x-test", content, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: answer %d %s", path, resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); csp != "" {
			t.Errorf("%s: the JSON answer has Content-Security-Policy %q", path, csp)
		}
		got := <-env.files.uploads
		if got.GetContentType() != "image/x-test" || string(got.GetData()) != content {
			t.Errorf("%s: backend got %q %q, want image/x-test %q", path, got.GetContentType(), got.GetData(), content)
		}

		big := strings.Repeat("x", 2048)
		resp, body = env.send(t, false, method, path, "text/plain", big, nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), `"code":3`) {
			t.Errorf("%s: %d-byte body: answer %d %s, want 413 with a Status", path, len(big), resp.StatusCode, body)
		}
		// Without a Content-Length, the limit holds while the body is read.
		req, err := http.NewRequestWithContext(t.Context(), method, env.url+path, io.MultiReader(strings.NewReader(big)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"code":3`) {
			t.Errorf("%s: chunked %d-byte body: answer %d %s, want 413 with a Status", path, len(big), r.StatusCode, b)
		}
	}
}

// TestEmptyBodyOnFieldRoute pins what an empty body means on a `body: "field"` route: no value
// for the field, which stays unset (grpc-gateway sets an empty message); `{}` sets it. For an
// HttpBody field the body is the content itself, so an empty body is an empty upload: the field
// is set, with the request's Content-Type.
func TestEmptyBodyOnFieldRoute(t *testing.T) {
	t.Parallel()
	env := newFilesEnv(t, "")
	for _, tc := range []struct {
		body    string
		wantSet bool
	}{{"", false}, {"{}", true}, {`{"title":"x"}`, true}} {
		resp, body := env.send(t, false, http.MethodPatch, "/v1/files/a", "application/json", tc.body, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("body %q: answer %d %s", tc.body, resp.StatusCode, body)
		}
		if got := <-env.files.updates; (got.File != nil) != tc.wantSet {
			t.Errorf("body %q: file set = %v, want %v", tc.body, got.File != nil, tc.wantSet)
		}
	}
	resp, body := env.send(t, false, http.MethodPut, "/v1/files/a:content", "text/plain", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("empty upload: answer %d %s", resp.StatusCode, body)
	}
	if got := <-env.files.uploads; got == nil || got.GetContentType() != "text/plain" || len(got.GetData()) != 0 {
		t.Errorf("empty upload: backend got %v, want an empty text/plain HttpBody", got)
	}
}
