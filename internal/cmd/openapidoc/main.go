// Command openapidoc completes the generated OpenAPI documents with the route policies (see
// package internal/openapidoc), and drops the schemas that no operation uses, as the gateway
// does when it serves them (openapidoc.Restrict). `make generate` runs it after `buf generate`:
//
//	go run ./internal/cmd/openapidoc -v2 openapi/v2/archway.swagger.json -v3 openapi/v3
//
// The policies are those of the services linked into the gateway, under the default
// configuration: the annotations, with policy.defaults filling what they leave unset. The
// info and servers are the defaults of docs.openapi. A document without paths, or with an
// operation of a service whose REST handlers are not linked into the gateway (generated before
// it was registered), fails the run with a message naming the document and the operations, and
// no document is written.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The gateway links the generated code of every service it serves.
	_ "github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/internal/openapidoc"
)

func main() {
	if err := realMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "openapidoc:", err)
		os.Exit(1)
	}
}

func realMain(args []string) error {
	fl := flag.NewFlagSet("openapidoc", flag.ContinueOnError)
	v2Path := fl.String("v2", "openapi/v2/archway.swagger.json", "the merged OpenAPI v2 document, patched in place")
	v3Dir := fl.String("v3", "openapi/v3", "the folder of OpenAPI v3 documents (*.json), each patched in place")
	if err := fl.Parse(args); err != nil {
		return err
	}
	cfg := config.Default()
	table, err := policy.Build(httpServices(), cfg)
	if err != nil {
		return err
	}
	description := openapidoc.FromConfig(cfg.Docs.OpenAPI)
	v2, err := os.ReadFile(*v2Path)
	if err != nil {
		return err
	}
	if v2, err = restrict(*v2Path, v2, table); err != nil {
		return err
	}
	v2, err = openapidoc.PatchV2(v2, table)
	if err != nil {
		return fmt.Errorf("%s: %w", *v2Path, err)
	}
	if v2, err = openapidoc.Describe(v2, description); err != nil {
		return fmt.Errorf("%s: %w", *v2Path, err)
	}
	// Every document is checked before any is written, so a refused run leaves them as they were.
	out := map[string][]byte{*v2Path: v2}
	err = filepath.WalkDir(*v3Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		doc, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if doc, err = restrict(path, doc, table); err != nil {
			return err
		}
		doc, err = openapidoc.PatchV3(doc, v2, table)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if doc, err = openapidoc.Describe(doc, description); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		out[path] = doc
		return nil
	})
	if err != nil {
		return err
	}
	for path, doc := range out {
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// restrict is openapidoc.Restrict for a document that must keep every operation: a document
// without paths, or with an operation of a service whose REST handlers are not linked into the
// gateway, is an error naming them. The generators write every annotated service's operations,
// and Restrict would drop those of an unlinked service without a word, down to an empty
// document when it was the file's only service.
func restrict(path string, doc []byte, table *policy.Table) ([]byte, error) {
	before, err := operationIDs(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(before) == 0 {
		return nil, fmt.Errorf("%s: the document has no paths: is every service of its proto file bound to HTTP (google.api.http)?", path)
	}
	out, _, err := openapidoc.Restrict(doc, table)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	after, err := operationIDs(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var dropped []string
	for _, id := range before {
		if !slices.Contains(after, id) {
			dropped = append(dropped, id)
		}
	}
	if len(dropped) > 0 {
		return nil, fmt.Errorf("%s: operations %s belong to services with no REST handlers linked into the gateway; "+
			"register their services (gateway/services.go) and run make generate again", path, strings.Join(dropped, ", "))
	}
	return out, nil
}

// operationIDs returns the operationId of every operation of an OpenAPI document (v2 or v3).
func operationIDs(doc []byte) ([]string, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("not an OpenAPI document: %w", err)
	}
	var ids []string
	for _, item := range d.Paths {
		for _, raw := range item {
			var op struct {
				OperationID string `json:"operationId"`
			}
			if json.Unmarshal(raw, &op) == nil && op.OperationID != "" {
				ids = append(ids, op.OperationID)
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// httpServices returns every linked service with a method bound to HTTP.
func httpServices() []protoreflect.ServiceDescriptor {
	var sds []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		services := fd.Services()
		for i := range services.Len() {
			if bound(services.Get(i)) {
				sds = append(sds, services.Get(i))
			}
		}
		return true
	})
	return sds
}

func bound(sd protoreflect.ServiceDescriptor) bool {
	methods := sd.Methods()
	for i := range methods.Len() {
		if proto.HasExtension(methods.Get(i).Options(), annotations.E_Http) {
			return true
		}
	}
	return false
}
