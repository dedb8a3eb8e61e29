package gateway

import (
	"context"
	"fmt"
	"log/slog"

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
func servedServices(cfg *config.Config, linked map[string]RegisterFunc, logger *slog.Logger) ([]protoreflect.ServiceDescriptor, map[string]RegisterFunc, error) {
	loaded, err := apis.Load(cfg.DescriptorSets())
	if err != nil {
		return nil, nil, err
	}
	var sds []protoreflect.ServiceDescriptor
	register := make(map[string]RegisterFunc)
	for _, b := range cfg.Backends {
		for _, svc := range b.Services {
			if api, ok := loaded.Lookup(svc); ok {
				sds = append(sds, api.Descriptor)
				register[svc] = describedService(api)
				logger.Info("service served from its descriptor set", slog.String("service", svc), slog.String("descriptor_set", api.Source))
				continue
			}
			fn, ok := linked[svc]
			if !ok {
				return nil, nil, fmt.Errorf("backend %q: service %s is in no descriptor set of apis[] (%d loaded) and has no REST handlers linked into the gateway",
					b.Name, svc, len(cfg.APIs))
			}
			linkedSDs, err := serviceDescriptors([]string{svc})
			if err != nil {
				return nil, nil, err
			}
			sds = append(sds, linkedSDs[0])
			register[svc] = fn
		}
	}
	return sds, register, nil
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
