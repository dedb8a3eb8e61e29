package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a [time.Duration] written in configuration as a Go duration
// string: "250ms", "1.5s", "2m", "1h30m". A bare number other than 0, such
// as 5, is an error, since its unit would be a guess.
type Duration time.Duration

// D returns d as a [time.Duration].
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like [time.Duration.String], e.g. "1m30s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText encodes d as its String form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a duration string such as "1.5s". Environment
// overrides are read through it.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit, like \"250ms\", \"1.5s\" or \"2m\"", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML encodes d as its String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML decodes a duration string. Errors name the line and are
// collected with the decoder's other type errors.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: cannot unmarshal a YAML %s into a duration", n.Line, kindName(n.Kind)),
		}}
	}
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	return nil
}

// kindName names a YAML node kind for error messages.
func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	default:
		return "non-scalar value"
	}
}
