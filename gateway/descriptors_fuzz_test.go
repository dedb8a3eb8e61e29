package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// requestIDs matches the request id that system errors name, which differs between two answers.
var requestIDs = regexp.MustCompile(`request id [0-9A-Z]+`)

// FuzzDescribedRequest is a differential fuzz target: untrusted requests go to the storefront
// served through the generated handlers and through handlers built from a descriptor set of the
// same protos, in front of the same echoing backend. No request may panic either, and both must
// answer with the same status and body: the backend echoes what each decoded.
func FuzzDescribedRequest(f *testing.F) {
	for _, seed := range []struct {
		method            byte
		path, query, body string
	}{
		{0, "/v1/users/ada", "", ""},
		{0, "/v1/users/a%2Fb", "", ""},
		{0, "/v1/users", "page_size=2&page_token=x", ""},
		{0, "/v1/users", "read_mask=name,email&filter=%00", ""},
		{0, "/v1/users", "pageSize=1e3&pageToken=%FF", ""},
		{1, "/v1/users", "", `{"displayName":"Ada","email":"ada@example.com","tags":["a"],"createTime":"2026-01-01T00:00:00Z"}`},
		{1, "/v1/users", "", `{"displayName":`},
		{1, "/v1/users", "", `null`},
		{2, "/v1/users/ada", "update_mask=display_name", `{"displayName":"Ada"}`},
		{2, "/v1/users/ada", "", `{"displayName":"Ada","address":{"city":"Paris"}}`},
		{2, "/v1/users/ada", "updateMask=displayName,email", `{"name":"users/eve"}`},
		{2, "/v1/users/ada", "", ``},
		{3, "/v1/users/ada", "etag=1", ""},
		{0, "/v1/products", "category=CATEGORY_COFFEE&tags=a&tags=b", ""},
		{0, "/v1/products:batchGet", "ids=a&ids=b&includeStock=true", ""},
		{0, "/v1/products/p1/stock", "", ""},
		{1, "/v1/products/p1/stock:adjust", "", `{"delta":-2}`},
		{0, "/v1/orders/o1:watch", "", ""},
		{0, "/v1/orders:count", "parent=users/ada", ""},
		{4, "/v1/users/ada", "", "{}"},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.body)
	}
	generated, _, logsA := fuzzGateway(f)
	set := benchDescriptorSet(f, usersv1.File_storefront_users_v1_users_proto,
		ordersv1.File_storefront_orders_v1_orders_proto, catalogv1.File_storefront_catalog_v1_catalog_proto)
	described, _, logsB := fuzzGateway(f, "apis: [{descriptor_set: "+set+"}]\n")
	f.Fuzz(func(t *testing.T, method byte, path, query, body string) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		send := func(h http.Handler) *httptest.ResponseRecorder {
			req, err := http.NewRequest(m, "http://gateway.test"+path+"?"+query, strings.NewReader(body))
			if err != nil {
				return nil
			}
			req.Header.Set("X-Api-Key", "test-key")
			req.RemoteAddr = "192.0.2.1:1234"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		a, b := send(generated), send(described)
		if a == nil || b == nil {
			return
		}
		what := fmt.Sprintf("%s %q ? %q with body %q", m, path, query, body)
		checkAnswer(t, a, logsA, what+" (generated)")
		checkAnswer(t, b, logsB, what+" (descriptor set)")
		bodyA, bodyB := requestIDs.ReplaceAll(a.Body.Bytes(), nil), requestIDs.ReplaceAll(b.Body.Bytes(), nil)
		if a.Code != b.Code || !bytes.Equal(bodyA, bodyB) {
			t.Fatalf("%s: generated handlers answered %d %s, the descriptor set's %d %s", what, a.Code, a.Body, b.Code, b.Body)
		}
	})
}
