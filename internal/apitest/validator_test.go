package apitest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/internal/apitest"
)

func published(t *testing.T) *apitest.Validator {
	t.Helper()
	v, err := apitest.Published()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const (
	user     = `{"name":"users/ada","displayName":"Ada","email":"ada@example.com","state":"USER_STATE_ACTIVE","createTime":"2026-01-02T03:04:05Z"}`
	notFound = `{"code":5,"message":"no such user","details":[]}`
)

func TestValidate(t *testing.T) {
	t.Parallel()
	jsonType := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name   string
		method string
		path   string
		code   int
		header http.Header
		body   string
		// reqHeader are the request's header fields.
		reqHeader http.Header
		// preflight sends the request as a CORS preflight.
		preflight bool
		wantErr   string
	}{
		{name: "documented response", method: "GET", path: "/v1/users/ada", code: 200, body: user},
		{name: "error", method: "GET", path: "/v1/users/ada", code: 404, body: notFound},
		{name: "create answers 201", method: "POST", path: "/v1/users", code: 201, body: user},
		{name: "stream", method: "GET", path: "/v1/orders/ord-1:watch", code: 200, header: http.Header{"Content-Type": {"application/x-ndjson"}}, body: "not checked"},
		{name: "event stream", method: "GET", path: "/v1/orders/ord-1:watch", code: 200, header: http.Header{"Content-Type": {"text/event-stream"}}, body: "not checked"},
		{name: "custom verb of another document", method: "GET", path: "/v1/products/p-1:page", code: 200, body: `{"product":{"id":"p-1"}}`},
		{name: "cached read", method: "GET", path: "/v1/products/p-1", code: 200, body: `{"id":"p-1"}`,
			header: http.Header{"Content-Type": {"application/json"}, "Etag": {`"abc"`}, "Cache-Control": {"public, max-age=30"}, "Age": {"3"}}},
		{name: "not modified", method: "GET", path: "/v1/users/ada", code: 304, reqHeader: http.Header{"If-None-Match": {`"abc"`}},
			header: http.Header{"Etag": {`"abc"`}, "Cache-Control": {"private, max-age=5"}, "Age": {"1"}}},
		{name: "routing error", method: "PUT", path: "/v1/users/ada", code: 405, body: `{"code":12,"message":"method not allowed"}`},
		{name: "unknown path", method: "GET", path: "/v2/nothing", code: 404, body: notFound},
		{name: "not the API", method: "GET", path: "/healthz", code: 200, body: "ok"},
		{name: "not the API either", method: "GET", path: "/docs/swagger-ui.css", code: 200, body: "body{}"},
		{name: "CORS preflight", method: "OPTIONS", path: "/v1/users", code: 204, preflight: true},
		{name: "OPTIONS that is not a preflight", method: "OPTIONS", path: "/v1/users", code: 204, wantErr: "no documented operation"},

		{name: "wrong type", method: "GET", path: "/v1/users/ada", code: 200, body: `{"displayName":5}`, wantErr: "displayName"},
		{name: "undocumented member", method: "GET", path: "/v1/users/ada", code: 200, body: `{"displayName":"Ada","email":"a@example.com","display_name":"Ada"}`, wantErr: "/display_name is not in the documented schema"},
		{name: "unknown enum value", method: "GET", path: "/v1/users/ada", code: 200, body: `{"state":"GONE"}`, wantErr: "state"},
		{name: "bad timestamp", method: "GET", path: "/v1/users/ada", code: 200, body: `{"createTime":"yesterday"}`, wantErr: "createTime"},
		{name: "undocumented success status", method: "GET", path: "/v1/users/ada", code: 201, body: user, wantErr: "documents no 201 response"},
		{name: "create answers 200", method: "POST", path: "/v1/users", code: 200, body: user, wantErr: "documents no 200 response"},
		{name: "wrong content type", method: "GET", path: "/v1/users/ada", code: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: user, wantErr: "Content-Type"},
		{name: "error that is not a Status", method: "GET", path: "/v1/users/ada", code: 500, body: `{"error":"boom"}`, wantErr: "/error is not in the documented schema"},
		{name: "routing error that is not a Status", method: "GET", path: "/v2/nothing", code: 404, body: `{"code":"five"}`, wantErr: "google.rpc.Status"},
		{name: "routing error as text", method: "GET", path: "/v2/nothing", code: 404, header: http.Header{"Content-Type": {"text/plain"}}, body: "404 page not found", wantErr: "want application/json"},
		{name: "success on an undocumented path", method: "GET", path: "/v1/nothing", code: 200, body: `{}`, wantErr: "no documented operation"},
		{name: "cached read with a bad Age", method: "GET", path: "/v1/products/p-1", code: 200, body: `{"id":"p-1"}`,
			header: http.Header{"Content-Type": {"application/json"}, "Age": {"soon"}}, wantErr: "Age"},
		{name: "not modified with a body", method: "GET", path: "/v1/users/ada", code: 304, reqHeader: http.Header{"If-None-Match": {`"abc"`}},
			header: http.Header{}, body: user, wantErr: "304 Not Modified with a"},
		{name: "not modified without a condition", method: "GET", path: "/v1/users/ada", code: 304, header: http.Header{}, wantErr: "without If-None-Match"},
		{name: "not modified for a read that is not cached", method: "GET", path: "/v1/products:batchGet", code: 304,
			reqHeader: http.Header{"If-None-Match": {`"abc"`}}, header: http.Header{}, wantErr: "documents no 304 response"},
		{name: "stream with an undocumented status", method: "GET", path: "/v1/orders/ord-1:watch", code: 201, header: http.Header{"Content-Type": {"application/x-ndjson"}}, wantErr: "documents no 201 response"},
	}
	v := published(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequestWithContext(t.Context(), tc.method, "http://gateway.test"+tc.path, nil)
			for k, vs := range tc.reqHeader {
				req.Header[k] = vs
			}
			if tc.preflight {
				req.Header.Set("Origin", "https://shop.example")
				req.Header.Set("Access-Control-Request-Method", "POST")
			}
			header := tc.header
			if header == nil {
				header = jsonType
			}
			err := v.Validate(req, tc.code, header, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/users/bad" {
			_, _ = io.WriteString(w, `{"displayName":["Ada"]}`)
			return
		}
		_, _ = io.WriteString(w, user)
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: published(t).Transport(nil)}
	t.Cleanup(client.CloseIdleConnections)

	resp, err := client.Get(srv.URL + "/v1/users/ada")
	if err != nil {
		t.Fatalf("a documented response failed: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(body) != user {
		t.Errorf("body after validation = %q (%v), want %q", body, err, user)
	}

	resp, err = client.Get(srv.URL + "/v1/users/bad")
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("a response that does not match its schema passed")
	}
	if !strings.Contains(err.Error(), "GET /v1/users/bad answered 200") || !strings.Contains(err.Error(), "displayName") {
		t.Errorf("error %q does not say which request and field failed", err)
	}
}
