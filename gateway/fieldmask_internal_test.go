package gateway

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// TestBodyMaskAcceptsProtoNames decodes request bodies that hold an update_mask (as a
// `body: "*"` route receives them) in both spellings: protojson alone refuses proto names in a
// FieldMask string; the gateway's decoder accepts them, and the message holds proto names.
func TestBodyMaskAcceptsProtoNames(t *testing.T) {
	t.Parallel()
	m := newJSONMarshaler(true)
	tests := []struct {
		body string
		want []string
	}{
		{`{"updateMask":"displayName,address.postalCode"}`, []string{"display_name", "address.postal_code"}},
		{`{"update_mask": "display_name,address.postal_code"}`, []string{"display_name", "address.postal_code"}},
		{`{"user":{"displayName":"snake_case","tags":["a_b"]},"updateMask":"display_name,tags"}`, []string{"display_name", "tags"}},
		{"{\"updateMask\" :\n\t\"display_name\"}", []string{"display_name"}},
		{`{"updateMask":null}`, nil},
	}
	for _, tc := range tests {
		var req usersv1.UpdateUserRequest
		if err := m.NewDecoder(strings.NewReader(tc.body)).Decode(&req); err != nil {
			t.Errorf("decode %s: %v", tc.body, err)
			continue
		}
		if got := req.GetUpdateMask().GetPaths(); !slices.Equal(got, tc.want) {
			t.Errorf("decode %s: paths %q, want %q", tc.body, got, tc.want)
		}
		if strings.Contains(tc.body, "snake_case") && req.GetUser().GetDisplayName() != "snake_case" {
			t.Errorf("decode %s: a string that is not a mask was rewritten: %v", tc.body, req.GetUser())
		}
	}
	for _, body := range []string{`{"updateMask":"display__name"}`, `{"updateMask":"Display_name"}`, `{"updateMask":7}`} {
		var req usersv1.UpdateUserRequest
		if err := m.NewDecoder(strings.NewReader(body)).Decode(&req); err == nil {
			t.Errorf("decode %s: accepted, paths %q", body, req.GetUpdateMask().GetPaths())
		}
	}
}

// FuzzMaskPathsAsJSON feeds untrusted bodies to the mask rewriter: it must never panic, and a
// body that protojson accepts as sent must decode to the same message once rewritten.
func FuzzMaskPathsAsJSON(f *testing.F) {
	for _, seed := range []string{
		`{"updateMask":"display_name"}`, `{"updateMask":"displayName"}`, `{"user":{"tags":["x_y"]},"update_mask":"a_b.c_d,e"}`,
		`{"updateMask":["a_b"]}`, `{"updateMask":"a_b"`, `[{"a_b":1}]`, `{"user":{"address":{"city":"a_b"}},"updateMask":"_x"}`,
		"{\"updateMask\":\"a\\u005fb\"}", `{"updateMask":"a_1"}`, `null`, `{"x_y":{"updateMask":"a_b"}}`,
	} {
		f.Add(seed)
	}
	md := (&usersv1.UpdateUserRequest{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, body string) {
		out := maskPathsAsJSON([]byte(body), md)
		var sent usersv1.UpdateUserRequest
		if protojson.Unmarshal([]byte(body), &sent) != nil {
			return
		}
		var rewritten usersv1.UpdateUserRequest
		if err := protojson.Unmarshal(out, &rewritten); err != nil || !proto.Equal(&sent, &rewritten) {
			t.Fatalf("body %s, rewritten %s: %v, %v != %v", body, out, err, &rewritten, &sent)
		}
	})
}
