package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDocs copies the committed documents into a temporary folder and returns the paths of its
// v2 document and v3 folder.
func copyDocs(t *testing.T) (v2, v3 string) {
	t.Helper()
	dir := t.TempDir()
	err := os.CopyFS(filepath.Join(dir, "openapi"), os.DirFS("../../../openapi"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "openapi", "v2", "archway.swagger.json"), filepath.Join(dir, "openapi", "v3")
}

// TestRefusesDocumentsItWouldEmpty runs the command as `make generate` does on documents that
// describe a service whose handlers are not linked into the gateway, or nothing at all: it must
// fail naming the document and the operations, and write nothing, instead of silently writing a
// document without them (an empty one, for a proto file of one such service).
func TestRefusesDocumentsItWouldEmpty(t *testing.T) {
	t.Parallel()
	unlinked := `{"openapi":"3.1.0","info":{"title":"warehouse.proto","version":"v1"},"paths":{"/v1/warehouses/{id}":{"get":{"operationId":"WarehouseService_GetWarehouse","responses":{"200":{"description":"OK"}}}}}}`
	tests := []struct {
		name, file, doc, want string
	}{
		{"service not linked", "warehouse.openapi.json", unlinked, "WarehouseService_GetWarehouse"},
		{"no paths", "empty.openapi.json", `{"openapi":"3.1.0","info":{"title":"x","version":"v1"},"paths":{}}`, "has no paths"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v2, v3 := copyDocs(t)
			path := filepath.Join(v3, "acme", tc.file)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			v2Before, _ := os.ReadFile(v2)
			err := realMain([]string{"-v2", v2, "-v3", v3})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("err = %v, want one naming %s and %q", err, tc.file, tc.want)
			}
			if after, _ := os.ReadFile(path); string(after) != tc.doc {
				t.Errorf("the refused document was rewritten: %s", after)
			}
			if after, _ := os.ReadFile(v2); !bytes.Equal(after, v2Before) {
				t.Error("the v2 document was written although the run failed")
			}
		})
	}
}

// TestCommittedDocumentsAreStable runs the command on the committed documents: every operation
// is kept, and the output is the input (make check-generated relies on it).
func TestCommittedDocumentsAreStable(t *testing.T) {
	t.Parallel()
	v2, v3 := copyDocs(t)
	if err := realMain([]string{"-v2", v2, "-v3", v3}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(v2)
	want, _ := os.ReadFile("../../../openapi/v2/archway.swagger.json")
	if !bytes.Equal(got, want) {
		t.Error("the committed v2 document changed")
	}
}
