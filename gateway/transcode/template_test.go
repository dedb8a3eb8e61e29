package transcode_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/archway-gateway/archway/gateway/transcode"
)

// TestCompileTemplate pins the programs of the template shapes google.api.http allows, written
// as protoc-gen-grpc-gateway writes them into generated code.
func TestCompileTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tmpl   string
		ops    []int
		pool   []string
		verb   string
		string string
		fields []string
	}{
		{"/", []int{2, 0}, []string{""}, "", "/", nil},
		{"/v1/products", []int{2, 0, 2, 1}, []string{"v1", "products"}, "", "/v1/products", nil},
		{"/v1/products/{id}", []int{2, 0, 2, 1, 1, 0, 4, 1, 5, 2}, []string{"v1", "products", "id"}, "", "/v1/products/{id=*}", []string{"id"}},
		{"/v1/{name=orders/*}:cancel", []int{2, 0, 2, 1, 1, 0, 4, 2, 5, 2}, []string{"v1", "orders", "name"}, "cancel", "/v1/{name=orders/*}:cancel", []string{"name"}},
		{"/v1/{parent=users/*}/orders", []int{2, 0, 2, 1, 1, 0, 4, 2, 5, 2, 2, 3}, []string{"v1", "users", "parent", "orders"}, "", "/v1/{parent=users/*}/orders", []string{"parent"}},
		{"/v1/orders:count", []int{2, 0, 2, 1}, []string{"v1", "orders"}, "count", "/v1/orders:count", nil},
		{"/v1/{book.name=shelves/*/books/*}", []int{2, 0, 2, 1, 1, 0, 2, 2, 1, 0, 4, 4, 5, 3}, []string{"v1", "shelves", "books", "book.name"}, "", "/v1/{book.name=shelves/*/books/*}", []string{"book.name"}},
		{"/v1/files/{path=**}", []int{2, 0, 2, 1, 3, 0, 4, 1, 5, 2}, []string{"v1", "files", "path"}, "", "/v1/files/{path=**}", []string{"path"}},
		{"/v1/*/things/{id}:get", []int{2, 0, 1, 0, 2, 1, 1, 0, 4, 1, 5, 2}, []string{"v1", "things", "id"}, "get", "/v1/*/things/{id=*}:get", []string{"id"}},
		{"/v1/{a}/x/{b}", []int{2, 0, 1, 0, 4, 1, 5, 1, 2, 2, 1, 0, 4, 1, 5, 3}, []string{"v1", "a", "x", "b"}, "", "/v1/{a=*}/x/{b=*}", []string{"a", "b"}},
		{"/v1/a:b:c", []int{2, 0, 2, 1}, []string{"v1", "a:b"}, "c", "/v1/a:b:c", nil},
		{"/v1/v1/{v1}", []int{2, 0, 2, 0, 1, 0, 4, 1, 5, 0}, []string{"v1"}, "", "/v1/v1/{v1=*}", []string{"v1"}},
		{"/v1/%41b", []int{2, 0, 2, 1}, []string{"v1", "%41b"}, "", "/v1/%41b", nil},
	}
	for _, tc := range tests {
		t.Run(tc.tmpl, func(t *testing.T) {
			t.Parallel()
			tmpl, err := transcode.ParseTemplate(tc.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Compile()
			if err != nil {
				t.Fatal(err)
			}
			want := runtime.MustPattern(runtime.NewPattern(1, tc.ops, tc.pool, tc.verb))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Compile() = %v, want %v (ops %v, pool %q, verb %q)", got, want, tc.ops, tc.pool, tc.verb)
			}
			if got.String() != tc.string {
				t.Errorf("String() = %q, want %q", got.String(), tc.string)
			}
			if !slices.Equal(tmpl.Fields(), tc.fields) {
				t.Errorf("Fields() = %q, want %q", tmpl.Fields(), tc.fields)
			}
		})
	}
}

// TestParseTemplateRefusesMalformed: every malformed template is an error naming it.
func TestParseTemplateRefusesMalformed(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{
		"", "v1/things", "/v1//things", "/v1/things/", "/v1/{", "/v1/{id", "/v1/{id}}", "/v1/}",
		"/v1/{1d}", "/v1/{id=}", "/v1/{a.}", "/v1/{a..b}", "/v1/{a}/{a}", "/v1/things:", "/v1/:verb",
		"/v1/{a={b}}", "/v1/**/x/**", "/v1/a b", "/v1/%zz", "/v1/{id}:a b", "/v1/{a=b/}", "/v1/{a=/b}",
	} {
		t.Run(tmpl, func(t *testing.T) {
			t.Parallel()
			parsed, err := transcode.ParseTemplate(tmpl)
			if err == nil {
				_, err = parsed.Compile()
			}
			if err == nil {
				t.Fatalf("ParseTemplate(%q) and Compile accepted it", tmpl)
			}
			if !strings.Contains(err.Error(), "path template") && !strings.Contains(err.Error(), "NewPattern") {
				t.Errorf("error %q does not say what failed", err)
			}
		})
	}
}

// FuzzParseTemplate: parsing never panics, and a template that compiles renders (String) as a
// template that compiles to the same program.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		"/", "/v1/products/{id}", "/v1/{name=orders/*}:cancel", "/v1/{book.name=shelves/*/books/*}",
		"/v1/files/{path=**}", "/v1/*/x:y", "/v1/{a}/x/{b}", "/v1/a:b:c", "/v1/{a={b}}", "/v1/%41",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tmpl, err := transcode.ParseTemplate(s)
		if err != nil {
			return
		}
		p, err := tmpl.Compile()
		if err != nil {
			return
		}
		again, err := transcode.ParseTemplate(p.String())
		if err != nil {
			t.Fatalf("%q compiled, but its rendering %q does not parse: %v", s, p.String(), err)
		}
		q, err := again.Compile()
		if err != nil {
			t.Fatalf("%q compiled, but its rendering %q does not: %v", s, p.String(), err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("%q and its rendering %q compile differently: %v, %v", s, p.String(), p, q)
		}
	})
}

// TestTemplateShape: templates that match the same requests have the same shape, whatever their
// variables are named or how much of the path they capture.
func TestTemplateShape(t *testing.T) {
	t.Parallel()
	for _, group := range [][]string{
		{"/v1/{name=users/*}", "/v1/users/{id}", "/v1/users/*", "/v1/{a=users}/{b}"},
		{"/v1/{name=orders/*}:cancel", "/v1/orders/{id}:cancel"},
		{"/v1/{path=**}", "/v1/**"},
		{"/"},
	} {
		want := ""
		for _, tmpl := range group {
			parsed, err := transcode.ParseTemplate(tmpl)
			if err != nil {
				t.Fatal(err)
			}
			got := parsed.Shape()
			if want == "" {
				want = got
			} else if got != want {
				t.Errorf("Shape(%q) = %q, want %q as for %q", tmpl, got, want, group[0])
			}
		}
	}
	a, _ := transcode.ParseTemplate("/v1/{name=users/*}")
	b, _ := transcode.ParseTemplate("/v1/{name=users/*}:cancel")
	if a.Shape() == b.Shape() {
		t.Errorf("a custom verb does not change the shape: %q", a.Shape())
	}
}
