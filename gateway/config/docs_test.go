package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/gateway/config"
)

// yamlPaths returns the dotted YAML path of every scalar or list field below
// t, writing the elements of a list of structs as "backends[].address" and
// the entries of a map of structs as "rate_limit.classes.<name>.rate".
func yamlPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		path := prefix + key
		switch {
		case f.Type.Kind() == reflect.Struct:
			paths = append(paths, yamlPaths(f.Type, path+".")...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			paths = append(paths, yamlPaths(f.Type.Elem(), path+"[].")...)
		case f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Struct:
			paths = append(paths, path)
			paths = append(paths, yamlPaths(f.Type.Elem(), path+".<name>.")...)
		default:
			paths = append(paths, path)
		}
	}
	return paths
}

// TestReferenceDocumentsEveryKey keeps docs/configuration.md in step with the
// structs: every key must appear there as `path`, with its variable.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, path := range yamlPaths(reflect.TypeFor[config.Config](), "") {
		if !strings.Contains(doc, "`"+path+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", path)
		}
		if path == "backends[].name" || fileOnly(path) {
			continue
		}
		env := "ARCHWAY_" + strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(path, "backends[].", "backends.<name>."), ".", "_"))
		if !strings.Contains(doc, "`"+env+"`") {
			t.Errorf("docs/configuration.md does not give `%s` for `%s`", env, path)
		}
	}
}

// fileOnly reports whether path is a map, or inside one, or inside a list of
// entries that have no name: those are set in the file only, so they have no
// environment variables.
func fileOnly(path string) bool {
	if strings.Contains(path, ".<name>") || slices.Contains(mapPaths, path) {
		return true
	}
	for _, list := range unnamedListPaths {
		if strings.HasPrefix(path, list+"[].") {
			return true
		}
	}
	return false
}

// unnamedListPaths are the keys whose values are lists of structs without a
// "name" key, which environment variables cannot address.
var unnamedListPaths = keysWhere(func(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && !hasNameKey(t.Elem())
})

// mapPaths are the keys whose values are maps.
var mapPaths = keysWhere(func(t reflect.Type) bool { return t.Kind() == reflect.Map })

// keysWhere returns the dotted YAML path of every field of Config, below
// nested structs, whose type satisfies match.
func keysWhere(match func(reflect.Type) bool) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, prefix+key+".")
			case match(f.Type):
				out = append(out, prefix+key)
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), "")
	return out
}

// hasNameKey reports whether struct type t has a field with YAML key "name".
func hasNameKey(t reflect.Type) bool {
	for i := range t.NumField() {
		if key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); key == "name" {
			return true
		}
	}
	return false
}
