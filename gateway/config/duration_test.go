package config_test

import (
	"encoding/json"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/archway-gateway/archway/gateway/config"
)

func TestDurationRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"0", 0, "0s"},
		{"0s", 0, "0s"},
		{"250ms", 250 * time.Millisecond, "250ms"},
		{"1.5s", 1500 * time.Millisecond, "1.5s"},
		{"2m", 2 * time.Minute, "2m0s"},
		{"1h30m", 90 * time.Minute, "1h30m0s"},
		{"-5s", -5 * time.Second, "-5s"},
		{`"10s"`, 10 * time.Second, "10s"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			var v struct {
				D config.Duration `yaml:"d"`
			}
			if err := yaml.Unmarshal([]byte("d: "+tc.in), &v); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if v.D.D() != tc.want {
				t.Errorf("decoded %v, want %v", v.D.D(), tc.want)
			}
			if s := v.D.String(); s != tc.out {
				t.Errorf("String() = %q, want %q", s, tc.out)
			}
			out, err := yaml.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if want := "d: " + tc.out + "\n"; string(out) != want {
				t.Errorf("Marshal = %q, want %q", out, want)
			}
			var again struct {
				D config.Duration `yaml:"d"`
			}
			if err := yaml.Unmarshal(out, &again); err != nil || again.D != v.D {
				t.Errorf("re-decoded %v (error %v), want %v", again.D, err, v.D)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(map[string]config.Duration{"d": config.Duration(1500 * time.Millisecond)})
	if err != nil || string(b) != `{"d":"1.5s"}` {
		t.Errorf("json.Marshal = %s, %v; want {\"d\":\"1.5s\"}", b, err)
	}
	var d config.Duration
	if err := d.UnmarshalText([]byte("2m")); err != nil || d.D() != 2*time.Minute {
		t.Errorf("UnmarshalText(2m) = %v, %v; want 2m0s", d, err)
	}
}

func TestDurationRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"5", `line 1: invalid duration "5": want a number with a unit`},
		{"soon", `line 1: invalid duration "soon"`},
		{"1d", `line 1: invalid duration "1d"`},
		{"[1s]", "line 1: cannot unmarshal a YAML sequence into a duration"},
		{"{s: 1}", "line 1: cannot unmarshal a YAML mapping into a duration"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			var v struct {
				D config.Duration `yaml:"d"`
			}
			err := yaml.Unmarshal([]byte("d: "+tc.in), &v)
			if err == nil {
				t.Fatalf("Unmarshal(%q) succeeded with %v", tc.in, v.D)
			}
			assertError(t, err, tc.want)
		})
	}
}
