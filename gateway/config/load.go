package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path and returns the configuration it
// describes: the file is decoded strictly over [Default], then the ARCHWAY_*
// variables of the process environment are applied (see [Parse]), then the
// result is validated. Errors are prefixed "config.Load: " and the path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config.Load: %w", err)
	}
	c, err := parse(data, os.Environ())
	if err != nil {
		return nil, fmt.Errorf("config.Load: %s: %w", path, err)
	}
	return c, nil
}

// Parse is [Load] for a configuration already in memory and an explicit
// environment, given as "KEY=value" strings like [os.Environ] returns.
//
// data is decoded over [Default]: keys it leaves out, or sets to null, keep
// their defaults, and each backends entry starts from the backend defaults.
// An unknown key, a value of the wrong type, or more than one YAML document
// is an error naming the line. Empty data yields the defaults.
//
// Then every environment variable starting with ARCHWAY_ overrides the field
// it names; see docs/configuration.md for the naming rules. A variable that
// names no field, or whose value does not parse, is an error naming the
// variable. ARCHWAY_CONFIG is reserved for the path of the configuration
// file, and variables starting with ARCHWAY_TEST_ for the test suite; both
// are ignored here.
//
// Finally the configuration is normalised (header names canonicalised) and
// validated as by [Config.Validate]; a problem with a value that came from
// the environment also names the variable. Errors are prefixed
// "config.Parse: ".
func Parse(data []byte, environ []string) (*Config, error) {
	c, err := parse(data, environ)
	if err != nil {
		return nil, fmt.Errorf("config.Parse: %w", err)
	}
	return c, nil
}

// parse implements Load and Parse, leaving the error prefix to them.
func parse(data []byte, environ []string) (*Config, error) {
	c := Default()
	if err := decode(data, c); err != nil {
		return nil, err
	}
	sources, errs := applyEnv(c, environ)
	c.normalize()
	for _, err := range c.check() {
		var fe *fieldError
		if errors.As(err, &fe) {
			fe.env = sources.lookup(fe.path)
		}
		errs = append(errs, err)
	}
	if err := joinProblems(errs); err != nil {
		return nil, err
	}
	return c, nil
}

// decode strictly decodes a single YAML document from data into c, and gives
// each backends entry the backend defaults for the keys it leaves out.
func decode(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return err
	default:
		return fmt.Errorf("yaml: line %d: a configuration holds a single YAML document", extra.Line)
	}
	return defaultBackends(data, c)
}

// defaultBackends sets, in every element of c.Backends, each field whose key
// the YAML entry leaves out or sets to null to its value in defaultBackend.
// Decoding cannot do it: it builds the elements of a slice from zero values.
func defaultBackends(data []byte, c *Config) error {
	var keys struct {
		Backends []map[string]yaml.Node `yaml:"backends"`
	}
	if err := yaml.Unmarshal(data, &keys); err != nil {
		return err
	}
	defaults := reflect.ValueOf(defaultBackend())
	for i, entry := range keys.Backends {
		if i >= len(c.Backends) {
			break
		}
		if err := fillDefaults(reflect.ValueOf(&c.Backends[i]).Elem(), defaults, entry); err != nil {
			return err
		}
	}
	return nil
}

// fillDefaults sets each field of struct v whose key entry leaves out or
// sets to null to its value in defaults, descending into the sections
// (nested structs) that entry does set.
func fillDefaults(v, defaults reflect.Value, entry map[string]yaml.Node) error {
	t := defaults.Type()
	for j := range t.NumField() {
		n, ok := entry[yamlKey(t.Field(j))]
		switch {
		case !ok || n.ShortTag() == "!!null":
			v.Field(j).Set(defaults.Field(j))
		case n.Kind == yaml.MappingNode && t.Field(j).Type.Kind() == reflect.Struct &&
			!reflect.PointerTo(t.Field(j).Type).Implements(textUnmarshalerType):
			var sub map[string]yaml.Node
			if err := n.Decode(&sub); err != nil {
				return err
			}
			if err := fillDefaults(v.Field(j), defaults.Field(j), sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalize rewrites values that have one canonical spelling into it.
func (c *Config) normalize() {
	for i, h := range c.API.ForwardHeaders {
		c.API.ForwardHeaders[i] = http.CanonicalHeaderKey(h)
	}
	for i, h := range c.API.ForwardResponseHeaders {
		c.API.ForwardResponseHeaders[i] = strings.ToLower(h)
	}
}

// yamlKey returns the YAML key of a struct field as the YAML decoder reads
// it, or "" when the decoder skips the field.
func yamlKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch {
	case key == "-" || !f.IsExported():
		return ""
	case key == "":
		return strings.ToLower(f.Name)
	default:
		return key
	}
}

// joinProblems reports errs together, or returns nil when there are none.
func joinProblems(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	default:
		return fmt.Errorf("%d problems:\n%w", len(errs), errors.Join(errs...))
	}
}
