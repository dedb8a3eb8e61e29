// Command openapidoc completes the generated OpenAPI documents with the route policies (see
// package internal/openapidoc), and drops the schemas that no operation uses, as the gateway
// does when it serves them (openapidoc.Restrict). `make generate` runs it after `buf generate`:
//
//	go run ./internal/cmd/openapidoc -v2 openapi/v2/archway.swagger.json -v3 openapi/v3
//
// The policies are those of the services linked into the gateway, under the default
// configuration: the annotations, with policy.defaults filling what they leave unset. The
// info and servers are the defaults of docs.openapi.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	if v2, _, err = openapidoc.Restrict(v2, table); err != nil {
		return fmt.Errorf("%s: %w", *v2Path, err)
	}
	v2, err = openapidoc.PatchV2(v2, table)
	if err != nil {
		return fmt.Errorf("%s: %w", *v2Path, err)
	}
	if v2, err = openapidoc.Describe(v2, description); err != nil {
		return fmt.Errorf("%s: %w", *v2Path, err)
	}
	if err := os.WriteFile(*v2Path, v2, 0o644); err != nil {
		return err
	}
	return filepath.WalkDir(*v3Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		doc, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if doc, _, err = openapidoc.Restrict(doc, table); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		doc, err = openapidoc.PatchV3(doc, v2, table)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if doc, err = openapidoc.Describe(doc, description); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return os.WriteFile(path, doc, 0o644)
	})
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
