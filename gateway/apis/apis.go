// Package apis loads the APIs that a gateway serves without generated code linked in: descriptor
// sets, as `buf build -o` or `protoc --include_imports --descriptor_set_out` write them, each
// into a registry of its own.
//
// The google.api.http and archway.policy.v1 options of the loaded descriptors are parsed with the
// extension types linked into the gateway, so routes and route policies come from a loaded
// service exactly as from a linked one.
package apis

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Set is the APIs loaded from descriptor sets, by service.
type Set struct {
	services map[protoreflect.FullName]Service
}

// Service is a service found in a descriptor set.
type Service struct {
	// Descriptor describes the service, resolved within its own descriptor set.
	Descriptor protoreflect.ServiceDescriptor
	// Source is the path of the descriptor set the service was loaded from.
	Source string
}

// Lookup returns the service with the given full name, such as "acme.inventory.v1.WarehouseService".
func (s *Set) Lookup(name string) (Service, bool) {
	if s == nil {
		return Service{}, false
	}
	svc, ok := s.services[protoreflect.FullName(name)]
	return svc, ok
}

// Services returns the full names of every service loaded, sorted.
func (s *Set) Services() []string {
	if s == nil {
		return nil
	}
	names := make([]string, 0, len(s.services))
	for n := range s.services {
		names = append(names, string(n))
	}
	slices.Sort(names)
	return names
}

// Load reads the descriptor sets at paths. Each set must be complete (every file it imports is in
// it) and may be built from any proto files; a service defined in two sets is an error, since the
// gateway could not tell which one's routes apply. Every problem names the file.
func Load(paths []string) (*Set, error) {
	s := &Set{services: make(map[protoreflect.FullName]Service)}
	var errs []error
	for _, path := range paths {
		files, err := loadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			svcs := fd.Services()
			for i := range svcs.Len() {
				sd := svcs.Get(i)
				if other, ok := s.services[sd.FullName()]; ok {
					errs = append(errs, fmt.Errorf("descriptor set %s: service %s is also defined in %s", path, sd.FullName(), other.Source))
					continue
				}
				s.services[sd.FullName()] = Service{Descriptor: sd, Source: path}
			}
			return true
		})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("apis.Load: %w", errors.Join(errs...))
	}
	return s, nil
}

// loadFile reads one descriptor set into a registry of its own.
func loadFile(path string) (*protoregistry.Files, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("descriptor set %s: %w", path, err)
	}
	return parse(path, data)
}

// parse decodes a serialized FileDescriptorSet. The options of its files are decoded with the
// extension types linked into the gateway (google.api.http, archway.policy.v1.route).
func parse(path string, data []byte) (*protoregistry.Files, error) {
	var fds descriptorpb.FileDescriptorSet
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(data, &fds); err != nil {
		return nil, fmt.Errorf("descriptor set %s: not a serialized google.protobuf.FileDescriptorSet (build one with `buf build -o FILE.binpb` or `protoc --include_imports --descriptor_set_out=FILE.binpb`): %w", path, err)
	}
	if len(fds.GetFile()) == 0 {
		return nil, fmt.Errorf("descriptor set %s: holds no files", path)
	}
	names := make(map[string]bool, len(fds.GetFile()))
	for _, f := range fds.GetFile() {
		if names[f.GetName()] {
			return nil, fmt.Errorf("descriptor set %s: file %q appears twice", path, f.GetName())
		}
		names[f.GetName()] = true
	}
	for _, f := range fds.GetFile() {
		for _, dep := range f.GetDependency() {
			if !names[dep] {
				return nil, fmt.Errorf("descriptor set %s: %s imports %q, which the set does not hold: build the set with its imports (`buf build` includes them; protoc needs --include_imports)",
					path, f.GetName(), dep)
			}
		}
	}
	files, err := protodesc.NewFiles(&fds)
	if err != nil {
		return nil, fmt.Errorf("descriptor set %s: %w", path, err)
	}
	return files, nil
}
