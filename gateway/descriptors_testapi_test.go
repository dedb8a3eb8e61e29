package gateway_test

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	testapiv1 "github.com/archway-gateway/archway/internal/testapi/gen/archway/testapi/v1"
)

// TestDescriptorSetMatchesGeneratedTestAPI extends the differential test to what the storefront
// does not use: google.api.HttpBody in and out (raw downloads, streamed downloads, uploads, a
// body field of type HttpBody), a body field decoded as JSON on PATCH, response metadata as
// headers and trailers, and client and bidirectional streams read from NDJSON bodies. Each
// request goes to the test API served through its generated handlers and through a descriptor
// set, over HTTP/1.1 and HTTP/2; the answers must be identical.
func TestDescriptorSetMatchesGeneratedTestAPI(t *testing.T) {
	t.Parallel()
	set := writeDescriptorSet(t, testapiv1.FileService_ServiceDesc.ServiceName, testapiv1.TallyService_ServiceDesc.ServiceName)
	apis := "apis: [{descriptor_set: " + set + "}]\n"
	filesEnv := func(extra string) *testAPIEnv {
		files := &fakeFiles{uploads: make(chan *httpbody.HttpBody, 100), updates: make(chan *testapiv1.UpdateFileRequest, 100)}
		return newTestAPIEnv(t, testapiv1.FileService_ServiceDesc.ServiceName,
			func(s *grpc.Server) { testapiv1.RegisterFileServiceServer(s, files) }, testapiv1.RegisterFileServiceHandler,
			"api: {forward_response_headers: [x-ratelimit-remaining, x-checksum, foo]}\n"+extra)
	}
	type request struct {
		method, path, contentType, body string
		header                          http.Header
	}
	for _, svc := range []struct {
		name                 string
		generated, described *testAPIEnv
		requests             []request
	}{
		{
			name: "files", generated: filesEnv(""), described: filesEnv(apis),
			requests: []request{
				{method: "GET", path: "/v1/files/report:content"},
				{method: "GET", path: "/v1/files/missing:content"},
				{method: "GET", path: "/v1/files/report:content", header: http.Header{"Te": {"trailers"}}},
				{method: "GET", path: "/v1/files/report:stream"},
				{method: "GET", path: "/v1/files/broken:stream"},
				{method: "GET", path: "/v1/files/missing:stream"},
				{method: "POST", path: "/v1/files:upload", contentType: "text/csv", body: "a,b\n1,2\n"},
				{method: "POST", path: "/v1/files:upload", contentType: "image/png", body: ""},
				{method: "POST", path: "/v1/files:upload?x=1", contentType: "text/plain", body: "x"},
				{method: "PUT", path: "/v1/files/report:content", contentType: "text/csv", body: "c,d\n"},
				{method: "PUT", path: "/v1/files/report:content", contentType: "text/csv", body: ""},
				{method: "PATCH", path: "/v1/files/report", contentType: "application/json", body: `{"title":"Q3"}`},
				{method: "PATCH", path: "/v1/files/report", contentType: "application/json", body: ``},
				{method: "PATCH", path: "/v1/files/report", contentType: "application/json", body: `{"title":`},
				{method: "PATCH", path: "/v1/files/report", contentType: "application/json", body: `{"size":"big"}`},
				{method: "PATCH", path: "/v1/files/report?title=x", contentType: "application/json", body: `{}`},
			},
		},
		{
			name: "tally", generated: newTallyGateway(t, ""), described: newTallyGateway(t, apis),
			requests: []request{
				{method: "POST", path: "/v1/tally:sum", contentType: "application/json", body: threeNumbers},
				{method: "POST", path: "/v1/tally:sum", contentType: "application/json", body: ""},
				{method: "POST", path: "/v1/tally:sum", contentType: "application/json", body: "{\"value\": 1}\n{\"value\": \"x\"}\n"},
				{method: "POST", path: "/v1/tally:sum", contentType: "application/json", body: "{\"nope\": 1}\n"},
				{method: "POST", path: "/v1/tally:running", contentType: "application/json", body: threeNumbers},
				{method: "POST", path: "/v1/tally:running", contentType: "application/json", body: "{\"value\": 1}\n[\n"},
				{method: "GET", path: "/v1/tally:running"},
			},
		},
	} {
		for _, h2 := range []bool{false, true} {
			for _, req := range svc.requests {
				send := func(env *testAPIEnv) (int, http.Header, http.Header, []byte) {
					url, client := env.url, http.DefaultClient
					if h2 {
						url, client = env.h2url, env.h2
					}
					r, err := http.NewRequestWithContext(t.Context(), req.method, url+req.path, strings.NewReader(req.body))
					if err != nil {
						t.Fatal(err)
					}
					if req.contentType != "" {
						r.Header.Set("Content-Type", req.contentType)
					}
					maps.Copy(r.Header, req.header)
					resp, err := client.Do(r)
					if err != nil {
						t.Fatal(err)
					}
					defer func() { _ = resp.Body.Close() }()
					// A stream that fails after its first message is cut off: the error is part of
					// the answer.
					body, err := io.ReadAll(resp.Body)
					if err != nil {
						body = append(body, "\nread error: "+err.Error()...)
					}
					return resp.StatusCode, comparableHeader(resp.Header), resp.Trailer, body
				}
				name := svc.name + " " + req.method + " " + req.path
				if h2 {
					name += " (HTTP/2)"
				}
				codeA, headerA, trailerA, bodyA := send(svc.generated)
				codeB, headerB, trailerB, bodyB := send(svc.described)
				bodyA, bodyB = requestIDs.ReplaceAll(bodyA, nil), requestIDs.ReplaceAll(bodyB, nil)
				if codeA != codeB || !bytes.Equal(bodyA, bodyB) {
					t.Errorf("%s: generated handlers answered %d %q, the descriptor set's %d %q", name, codeA, bodyA, codeB, bodyB)
				}
				if !maps.EqualFunc(headerA, headerB, slices.Equal) || !maps.EqualFunc(trailerA, trailerB, slices.Equal) {
					t.Errorf("%s: headers differ:\ngenerated: %v %v\ndescribed: %v %v", name, headerA, trailerA, headerB, trailerB)
				}
			}
		}
	}
}
