package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// drainingHealth is a storefront server's gRPC health service: grpc's health.Server, whose Watch
// streams end when the server drains. A Watch never ends on its own, and grpc.Server's
// GracefulStop waits for every open stream, so without this a client that keeps watching (any
// client other than grpc-go's own health checking, which cancels its watch on GOAWAY) would hold
// a graceful stop open until its deadline.
type drainingHealth struct {
	*health.Server
	// drained ends when endWatches is called.
	drained    context.Context
	endWatches context.CancelFunc
}

func newDrainingHealth() *drainingHealth {
	ctx, cancel := context.WithCancel(context.Background())
	return &drainingHealth{Server: health.NewServer(), drained: ctx, endWatches: cancel}
}

// Watch is health.Server's Watch, ended with UNAVAILABLE once endWatches is called.
func (h *drainingHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(h.drained, cancel)
	defer stop()
	err := h.Server.Watch(req, &watchStream{Health_WatchServer: stream, ctx: ctx})
	if h.drained.Err() != nil && stream.Context().Err() == nil {
		return status.Error(codes.Unavailable, "server is shutting down")
	}
	return err
}

// watchStream is a Watch stream whose context also ends when the server drains.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (s *watchStream) Context() context.Context { return s.ctx }
