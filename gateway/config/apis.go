package config

import (
	"fmt"
	"strings"
)

// APIEntry is one API that the gateway serves without generated code linked into it: its
// descriptors, from which the routes and route policies of its services are read. A backend
// that lists one of its services in backends[].services serves it.
type APIEntry struct {
	// DescriptorSet is the path of a serialized google.protobuf.FileDescriptorSet holding the
	// API's proto files and everything they import, as `buf build -o FILE.binpb` or
	// `protoc --include_imports --descriptor_set_out=FILE.binpb` write it. A relative path is
	// relative to the gateway's working directory. Required.
	DescriptorSet string `yaml:"descriptor_set"`
}

// checkAPIs checks apis[]: every entry names a descriptor set, each set once.
func (ch *checker) apis(apis []APIEntry) {
	seen := make(map[string]int, len(apis))
	for i, a := range apis {
		p := fmt.Sprintf("apis[%d].descriptor_set", i)
		if strings.TrimSpace(a.DescriptorSet) == "" {
			ch.failf(p, "must name a descriptor set file")
			continue
		}
		if j, dup := seen[a.DescriptorSet]; dup {
			ch.failf(p, "%q is already listed at apis[%d]", a.DescriptorSet, j)
			continue
		}
		seen[a.DescriptorSet] = i
	}
}

// DescriptorSets returns the descriptor set paths of apis[], in order.
func (c *Config) DescriptorSets() []string {
	paths := make([]string, 0, len(c.APIs))
	for _, a := range c.APIs {
		paths = append(paths, a.DescriptorSet)
	}
	return paths
}
