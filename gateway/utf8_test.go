package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestInvalidUTF8ParameterIs400 sends path and query values that are not UTF-8 once
// percent-decoded: a proto string field cannot hold them, and the gateway must refuse them with
// a 400 google.rpc.Status naming the parameter, not fail with a 500 when encoding the backend
// call.
func TestInvalidUTF8ParameterIs400(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	tests := []struct {
		name, method, path, body, param string
	}{
		{"path", http.MethodGet, "/v1/users/ada%FF", "", "name"},
		{"path of a body route", http.MethodPatch, "/v1/users/%C0%AF", `{"displayName":"Ada"}`, "user.name"},
		{"query", http.MethodGet, "/v1/users?page_token=%FE%FF", "", "page_token"},
		{"query with a valid first value", http.MethodGet, "/v1/users?page_token=a&page_token=%80", "", "page_token"},
		{"repeated query field", http.MethodGet, "/v1/users?page_size=1&tags=ok&tags=%ED%A0%80", "", "tags"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, env.url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", testAPIKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Details []struct {
					FieldViolations []struct {
						Field string `json:"field"`
					} `json:"fieldViolations"`
				} `json:"details"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatalf("status %d, body not a google.rpc.Status: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != http.StatusBadRequest || st.Code != 3 {
				t.Fatalf("%s %s: status %d %+v, want 400 INVALID_ARGUMENT", tc.method, tc.path, resp.StatusCode, st)
			}
			if !strings.Contains(st.Message, `"`+tc.param+`"`) || len(st.Details) != 1 ||
				len(st.Details[0].FieldViolations) != 1 || st.Details[0].FieldViolations[0].Field != tc.param {
				t.Errorf("%s %s: %+v does not name the parameter %q", tc.method, tc.path, st, tc.param)
			}
		})
	}
}
