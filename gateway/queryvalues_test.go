package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// UpdateUser echoes the update: the user as received, with the mask's paths, as the backend
// received them, in tags.
func (f *fakeUsers) UpdateUser(ctx context.Context, req *usersv1.UpdateUserRequest) (*usersv1.User, error) {
	f.record(ctx)
	u := req.GetUser()
	u.Email = "ada@example.com"
	u.Tags = req.GetUpdateMask().GetPaths()
	return u, nil
}

// TestQueryValueErrorsNameTheParameter sends query values that their fields cannot hold: each
// is a 400 whose google.rpc.BadRequest names the parameter as sent, like every other parameter
// error, and whose message is written for clients rather than in Go's terms.
func TestQueryValueErrorsNameTheParameter(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	tests := []struct {
		name, path, param, want string
	}{
		{"enum name", "/v1/users?state=BOGUS", "state", "USER_STATE_ACTIVE"},
		{"enum number", "/v1/users?state=42", "state", "not a value of UserState"},
		{"repeated enum", "/v1/orders?states=ORDER_STATE_PENDING&states=LOST", "states", "not a value of OrderState"},
		{"integer", "/v1/users?page_size=lots", "page_size", "32-bit integer"},
		{"integer by JSON name", "/v1/users?pageSize=1e3", "pageSize", "32-bit integer"},
		{"timestamp", "/v1/users?created_after=yesterday", "created_after", "RFC 3339"},
		{"nested integer", "/v1/orders?total.min_minor=x", "total.min_minor", "64-bit integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := do(t, http.MethodGet, env.url+tc.path, "", nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, body)
			}
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Details []struct {
					Type            string `json:"@type"`
					FieldViolations []struct {
						Field, Description string
					} `json:"fieldViolations"`
				} `json:"details"`
			}
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatal(err)
			}
			if st.Code != 3 || len(st.Details) != 1 || st.Details[0].Type != "type.googleapis.com/google.rpc.BadRequest" ||
				len(st.Details[0].FieldViolations) != 1 || st.Details[0].FieldViolations[0].Field != tc.param {
				t.Fatalf("body %s: want INVALID_ARGUMENT with one BadRequest field violation on %q", body, tc.param)
			}
			if !strings.Contains(st.Details[0].FieldViolations[0].Description, tc.want) {
				t.Errorf("description %q does not say %q", st.Details[0].FieldViolations[0].Description, tc.want)
			}
			if strings.Contains(st.Message, "strconv") || strings.Contains(st.Message, "parsing") {
				t.Errorf("message in Go's terms: %q", st.Message)
			}
		})
	}
	// Valid values of every kind still reach the backend (whose fake has no ListOrders).
	for _, path := range []string{
		"/v1/users?state=USER_STATE_ACTIVE&page_size=2&created_after=2026-01-02T15:04:05Z",
		"/v1/users?state=2", "/v1/orders?states=ORDER_STATE_PENDING&states=1&total.min_minor=5",
	} {
		if resp, body := do(t, http.MethodGet, env.url+path, "", nil); resp.StatusCode == http.StatusBadRequest {
			t.Errorf("GET %s: status %d, body %s", path, resp.StatusCode, body)
		}
	}
}

// TestUpdateMaskInJSONForm sends update_mask in the query by proto names and by the proto3 JSON
// names protojson writes: both are accepted, and the backend receives proto names.
func TestUpdateMaskInJSONForm(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, "", nil)
	tests := []struct {
		query string
		want  []string
	}{
		{"update_mask=display_name", []string{"display_name"}},
		{"update_mask=displayName", []string{"display_name"}},
		{"updateMask=displayName,address.postalCode", []string{"display_name", "address.postal_code"}},
	}
	for _, tc := range tests {
		resp, body := do(t, http.MethodPatch, env.url+"/v1/users/ada?"+tc.query, `{"displayName":"Ada"}`, nil)
		var u struct{ Tags []string }
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &u) != nil {
			t.Fatalf("PATCH ?%s: status %d, body %s", tc.query, resp.StatusCode, body)
		}
		if !slices.Equal(u.Tags, tc.want) {
			t.Errorf("PATCH ?%s: backend received mask %q, want %q", tc.query, u.Tags, tc.want)
		}
	}
}
