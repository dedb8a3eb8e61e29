package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadExpected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "expected.txt")
	text := "# comment\n\ndefaults TestA/sub 201 on create\ndefaults TestB cannot run: needs mux option runtime.WithX\ngrpc-gateway TestA/sub reason\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	exp, err := readExpected(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := exp["defaults"]["TestA/sub"]; got.reason != "201 on create" || got.cannotRun {
		t.Errorf("TestA/sub = %+v", got)
	}
	if got := exp["defaults"]["TestB"]; !got.cannotRun {
		t.Errorf("TestB = %+v, want cannot run", got)
	}
	if len(exp["grpc-gateway"]) != 1 {
		t.Errorf("grpc-gateway = %v", exp["grpc-gateway"])
	}
	for name, bad := range map[string]string{
		"no reason": "defaults TestA\n",
		"twice":     "defaults TestA r\ndefaults TestA r\n",
	} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readExpected(path); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseEventsAndReport(t *testing.T) {
	events := strings.Join([]string{
		`{"Action":"run","Test":"TestPass"}`,
		`{"Action":"pass","Test":"TestPass"}`,
		`{"Action":"run","Test":"TestParent"}`,
		`{"Action":"run","Test":"TestParent/listed"}`,
		`{"Action":"output","Test":"TestParent/listed","Output":"status 201\n"}`,
		`{"Action":"fail","Test":"TestParent/listed"}`,
		`{"Action":"run","Test":"TestParent/unlisted"}`,
		`{"Action":"fail","Test":"TestParent/unlisted"}`,
		`{"Action":"fail","Test":"TestParent"}`,
		`{"Action":"run","Test":"TestOption"}`,
		`{"Action":"output","Test":"TestOption","Output":"` + cannotRunMarker + ` runtime.WithX\n"}`,
		`{"Action":"fail","Test":"TestOption"}`,
		`{"Action":"run","Test":"TestNowPasses"}`,
		`{"Action":"pass","Test":"TestNowPasses"}`,
		`{"Action":"run","Test":"TestHung"}`,
	}, "\n")
	res, err := parseEvents(strings.NewReader(events))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(res.leaves(), " "), "TestHung TestNowPasses TestOption TestParent/listed TestParent/unlisted TestPass"; got != want {
		t.Errorf("leaves = %q, want %q", got, want)
	}
	if res.outcome["TestHung"] != "fail" {
		t.Errorf("a test that never ended is %q, want fail", res.outcome["TestHung"])
	}
	exp := map[string]expectation{
		"TestParent/listed": {reason: "201 on create"},
		"TestOption":        {cannotRun: true, reason: "cannot run: needs runtime.WithX"},
		"TestNowPasses":     {reason: "was broken"},
		"TestHung":          {reason: "hangs"},
		"TestGone":          {reason: "renamed"},
	}
	var out bytes.Buffer
	// Differences: TestParent/unlisted fails unexplained, TestNowPasses passes though listed,
	// TestGone did not run.
	if got := report(&out, "defaults", res, exp, false); got != 3 {
		t.Errorf("report found %d differences, want 3:\n%s", got, out.String())
	}
	for _, want := range []string{
		"6 tests (6 of grpc-gateway's suite, 0 of Archway's own), 2 pass, 3 fail, 1 cannot run",
		"UNEXPLAINED FAIL TestParent/unlisted",
		"UNEXPECTED PASS TestNowPasses",
		"MISSING TestGone",
		"cannot run TestOption: needs runtime.WithX",
		"expected fail TestParent/listed: 201 on create",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// With a -run filter, listed tests that did not run are not differences.
	if got := report(&bytes.Buffer{}, "defaults", res, exp, true); got != 2 {
		t.Errorf("partial report found %d differences, want 2", got)
	}
}
