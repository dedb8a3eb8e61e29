package gateway

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// BenchmarkDescribed compares the handlers built from a descriptor set (dynamic messages) with
// the generated handlers linked in, on the requests of BenchmarkChain, every edge function off.
func BenchmarkDescribed(b *testing.B) {
	set := benchDescriptorSet(b, catalogv1.File_storefront_catalog_v1_catalog_proto, usersv1.File_storefront_users_v1_users_proto)
	for _, c := range []struct{ name, config string }{
		{"generated", chainOff},
		{"described", chainOff + "apis: [{descriptor_set: " + set + "}]\n"},
	} {
		handler := newBenchGateway(b, c.config).Handler()
		for _, r := range benchRequests(b) {
			b.Run(c.name+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequestWithContext(b.Context(), r.method, r.path, bytes.NewReader(r.body))
					w := httptest.NewRecorder()
					handler.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("%s %s: HTTP %d: %s", r.method, r.path, w.Code, w.Body)
					}
				}
			})
		}
	}
}

// benchDescriptorSet writes files and their imports as a descriptor set and returns its path.
func benchDescriptorSet(b testing.TB, files ...protoreflect.FileDescriptor) string {
	b.Helper()
	var set descriptorpb.FileDescriptorSet
	seen := make(map[string]bool)
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range files {
		add(fd)
	}
	data, err := proto.Marshal(&set)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "storefront.binpb")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}
