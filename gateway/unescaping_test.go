package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestPathUnescaping sends encoded slashes in the path under each api.path_unescaping mode. By
// default the path is routed as sent: %2F stays inside its segment and reaches the backend
// still encoded, so "/v1/users%2Fada" is no route at all. Under "legacy" (grpc-gateway's own
// default) the path is decoded before routing and %2F separates segments.
func TestPathUnescaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode, path string
		wantStatus int
		wantName   string
	}{
		{"", "/v1/users/a%2Fb", http.StatusOK, "users/a%2Fb"},
		{"", "/v1/users/..%2f..%2Forders", http.StatusOK, "users/..%2f..%2Forders"},
		{"", "/v1/users%2Fada", http.StatusNotFound, ""},
		{"", "/v1/users/ada%3Ax%252F", http.StatusOK, "users/ada:x%2F"},
		{"legacy", "/v1/users%2Fada", http.StatusOK, "users/ada"},
		{"legacy", "/v1/users/a%2Fb", http.StatusNotFound, ""},
	}
	envs := map[string]*testEnv{"": newTestEnv(t, "", nil), "legacy": newTestEnv(t, "api: {path_unescaping: legacy}\n", nil)}
	for _, tc := range tests {
		t.Run(tc.mode+" "+tc.path, func(t *testing.T) {
			env := envs[tc.mode]
			req, err := http.NewRequest(http.MethodGet, env.url+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", testAPIKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.wantStatus)
			}
			if tc.wantName == "" {
				return
			}
			var u struct {
				Name string `json:"name"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
				t.Fatal(err)
			}
			if u.Name != tc.wantName {
				t.Errorf("GET %s: the backend got the name %q, want %q", tc.path, u.Name, tc.wantName)
			}
		})
	}
}
