package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/apis"
	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/transcode"
)

// servedServices finds, for every service the backends list, its descriptor and the function that
// registers its REST handlers: from a descriptor set of apis[] when one defines the service
// (handlers built from the descriptors, package transcode), else from the generated handlers
// linked in (builtinServices, WithService). A service found in neither is an error naming it.
func servedServices(cfg *config.Config, linked map[string]RegisterFunc, logger *slog.Logger) (*services, error) {
	loaded, err := apis.Load(cfg.DescriptorSets())
	if err != nil {
		return nil, err
	}
	s := &services{register: make(map[string]RegisterFunc), sources: make(map[string]string)}
	for _, b := range cfg.Backends {
		for _, svc := range b.Services {
			if api, ok := loaded.Lookup(svc); ok {
				if err := checkBindings(api); err != nil {
					return nil, err
				}
				s.descriptors = append(s.descriptors, api.Descriptor)
				s.register[svc] = describedService(api)
				s.sources[svc] = api.Source
				logger.Info("service served from its descriptor set", slog.String("service", svc), slog.String("descriptor_set", api.Source))
				continue
			}
			fn, ok := linked[svc]
			if !ok {
				return nil, fmt.Errorf("backend %q: service %s is in no descriptor set of apis[] (%d loaded) and has no REST handlers linked into the gateway",
					b.Name, svc, len(cfg.APIs))
			}
			linkedSDs, err := serviceDescriptors([]string{svc})
			if err != nil {
				return nil, err
			}
			s.descriptors = append(s.descriptors, linkedSDs[0])
			s.register[svc] = fn
		}
	}
	return s, nil
}

// services are the services a gateway serves.
type services struct {
	// descriptors describe the services, in the order of backends[].services.
	descriptors []protoreflect.ServiceDescriptor
	// register registers each service's REST handlers, by full name.
	register map[string]RegisterFunc
	// sources holds the descriptor set of each service loaded from one, by full name.
	sources map[string]string
}

// named adds to err, which the route table or the policy table returned, the descriptor set of
// each service it names that was loaded from one, so that the message leads to the file.
func (s *services) named(err error) error {
	var files []string
	for _, svc := range slices.Sorted(maps.Keys(s.sources)) {
		if strings.Contains(err.Error(), svc) {
			files = append(files, svc+" from "+s.sources[svc])
		}
	}
	if len(files) == 0 {
		return err
	}
	return fmt.Errorf("%w (descriptor sets: %s)", err, strings.Join(files, ", "))
}

// checkBindings parses the google.api.http rules of a service loaded from a descriptor set; an
// error names the set, the method and the problem.
func checkBindings(api apis.Service) error {
	methods := api.Descriptor.Methods()
	for i := range methods.Len() {
		bindings, err := transcode.Bindings(methods.Get(i))
		if err != nil {
			return fmt.Errorf("descriptor set %s: %w", api.Source, err)
		}
		for _, b := range bindings {
			if err := b.CheckTranslatable(); err != nil {
				return fmt.Errorf("descriptor set %s: %w", api.Source, err)
			}
		}
	}
	return nil
}

// describedService registers the handlers of a service loaded from a descriptor set; an error
// names the set.
func describedService(api apis.Service) RegisterFunc {
	return func(_ context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
		if err := transcode.Register(mux, conn, api.Descriptor); err != nil {
			return fmt.Errorf("descriptor set %s: %w", api.Source, err)
		}
		return nil
	}
}
