package testenv_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/archway-gateway/archway/internal/testenv"
)

// stopper stands in for a test, recording how Program stopped it.
type stopper struct {
	testing.TB
	how string
}

func (s *stopper) Helper() {}

func (s *stopper) Skipf(format string, args ...any) {
	s.how = "skip: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (s *stopper) Fatalf(format string, args ...any) {
	s.how = "fatal: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingProgram(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		require string
		want    string
	}{
		{"", "skip: helper: some-server is not installed"},
		{"0", "skip: helper: some-server is not installed"},
		{"1", "fatal: helper: some-server is not installed, and ARCHWAY_TEST_REQUIRE_X=1 requires it"},
	} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv("ARCHWAY_TEST_REQUIRE_X", tc.require)
			s := &stopper{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				testenv.Program(s, "helper", "some-server", "ARCHWAY_TEST_REQUIRE_X")
				s.how = "found"
			}()
			<-done
			if !strings.HasPrefix(s.how, tc.want) {
				t.Errorf("Program %s, want %s", s.how, tc.want)
			}
		})
	}
}

func TestFoundProgram(t *testing.T) {
	if got := testenv.Program(t, "helper", "go", "ARCHWAY_TEST_REQUIRE_X"); !strings.HasSuffix(got, "go") {
		t.Errorf("Program(go) = %q", got)
	}
}
