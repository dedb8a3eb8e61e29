package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

const (
	// envPrefix starts every environment variable that overrides a field.
	envPrefix = "ARCHWAY_"

	// envConfigFile is reserved for the binary: it names the configuration
	// file, so it is not a field override.
	envConfigFile = "ARCHWAY_CONFIG"

	// envTestPrefix starts the variables reserved for the test suite (such
	// as ARCHWAY_TEST_REQUIRE_REDIS), which are not field overrides either.
	envTestPrefix = "ARCHWAY_TEST_"
)

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// envField is a field that one environment variable sets.
type envField struct {
	path  string        // YAML path, e.g. "backends[0].address"
	value reflect.Value // the field itself, settable
}

// envTable maps the environment variables that c accepts to the fields they
// set. It is derived from c's YAML tags, so every new field gets its variable
// without further code.
type envTable struct {
	fields map[string][]envField // by variable; two or more make it ambiguous
	lists  map[string]envList    // by variable prefix, e.g. "ARCHWAY_BACKENDS_"
}

// envList is a list of structs whose elements are addressed by name.
type envList struct {
	path  string   // YAML path, e.g. "backends"
	names []string // the names of its elements
}

// newEnvTable walks c. A field's variable is ARCHWAY_ followed by its YAML
// path, upper-cased, with "_" between the keys. Elements of a list of
// structs are addressed by the value of their "name" key instead of their
// index: ARCHWAY_BACKENDS_USERS_ADDRESS. Structs are descended into unless
// they decode themselves from text; everything else is one variable.
func newEnvTable(c *Config) envTable {
	t := envTable{fields: map[string][]envField{}, lists: map[string]envList{}}
	t.addStruct(reflect.ValueOf(c).Elem(), strings.TrimSuffix(envPrefix, "_"), "", "")
	return t
}

// addStruct adds the fields of struct v, except the one whose key is skip.
func (t envTable) addStruct(v reflect.Value, name, path, skip string) {
	for i := range v.NumField() {
		key := yamlKey(v.Type().Field(i))
		if key == "" || key == skip {
			continue
		}
		t.add(v.Field(i), name+"_"+envSegment(key), joinPath(path, key))
	}
}

// add adds field v, or the fields below it, under the variable name.
func (t envTable) add(v reflect.Value, name, path string) {
	typ := v.Type()
	switch {
	case typ.Kind() == reflect.Struct && !reflect.PointerTo(typ).Implements(textUnmarshalerType):
		t.addStruct(v, name, path, "")
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
		keyField, ok := nameField(typ.Elem())
		if !ok {
			return
		}
		list := envList{path: path}
		for i := range v.Len() {
			elem := v.Index(i)
			key := elem.Field(keyField).String()
			if key == "" {
				continue
			}
			list.names = append(list.names, key)
			t.addStruct(elem, name+"_"+envSegment(key), fmt.Sprintf("%s[%d]", path, i), "name")
		}
		t.lists[name+"_"] = list
	default:
		t.fields[name] = append(t.fields[name], envField{path: path, value: v})
	}
}

// nameField returns the index of the string field with YAML key "name",
// which addresses the elements of a list of struct type t.
func nameField(t reflect.Type) (int, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlKey(f) == "name" && f.Type.Kind() == reflect.String {
			return i, true
		}
	}
	return 0, false
}

// envSegment turns a YAML key or a list element's name into its part of a
// variable name.
func envSegment(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(s))
}

// joinPath appends key to the YAML path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// envSources records which variable set which field, by YAML path.
type envSources map[string]string

// lookup returns the variable that set the field at path, or at the list
// that path is an element of; "" when none did.
func (s envSources) lookup(path string) string {
	if name, ok := s[path]; ok {
		return name
	}
	if i := strings.LastIndexByte(path, '['); i > 0 && strings.HasSuffix(path, "]") {
		return s[path[:i]]
	}
	return ""
}

// applyEnv sets the fields of c named by the ARCHWAY_* entries of environ.
// As with os.Getenv, the first entry of a repeated name wins.
func applyEnv(c *Config, environ []string) (envSources, []error) {
	table := newEnvTable(c)
	sources := envSources{}
	seen := map[string]bool{}
	var errs []error
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || name == envConfigFile || strings.HasPrefix(name, envTestPrefix) || seen[name] {
			continue
		}
		seen[name] = true
		fields := table.fields[name]
		switch len(fields) {
		case 0:
			errs = append(errs, fmt.Errorf("%s: %s", name, table.unknown(name)))
			continue
		case 1:
		default:
			paths := make([]string, len(fields))
			for i, f := range fields {
				paths[i] = f.path
			}
			errs = append(errs, fmt.Errorf("%s: ambiguous: it names %s", name, strings.Join(paths, " and ")))
			continue
		}
		if err := setText(fields[0].value, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		sources[fields[0].path] = name
	}
	return sources, errs
}

// unknown explains why name, an ARCHWAY_ variable, sets nothing.
func (t envTable) unknown(name string) string {
	for _, p := range slices.Sorted(maps.Keys(t.lists)) {
		if !strings.HasPrefix(name, p) {
			continue
		}
		list := t.lists[p]
		have := "there are none"
		if len(list.names) > 0 {
			have = "there are " + strings.Join(list.names, ", ")
		}
		return fmt.Sprintf("names no setting: %s<NAME>_<KEY> must name one of the %s in the configuration file (%s) and one of its keys",
			p, list.path, have)
	}
	return "names no setting (see docs/configuration.md for the variables)"
}

// setText parses s into the field v, according to its type.
func setText(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("%q is out of range", s)
		}
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("a list of %s cannot be set from the environment", v.Type().Elem())
		}
		v.Set(reflect.ValueOf(splitList(s)).Convert(v.Type()))
	default:
		return fmt.Errorf("a %s cannot be set from the environment", v.Type())
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces around items.
// An empty or blank s is the empty list.
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	items := strings.Split(s, ",")
	for i, item := range items {
		items[i] = strings.TrimSpace(item)
	}
	return items
}
