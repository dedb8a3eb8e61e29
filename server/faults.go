package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Fault is a misbehaviour injected into every call of one demo service, for tests of the
// gateway's deadlines and partial results. The zero Fault injects nothing. Health checks and
// server reflection are never affected.
type Fault struct {
	// Delay holds every call this long before it runs.
	Delay time.Duration
	// Hang holds every call until its context ends (the caller cancels or its deadline passes).
	Hang bool
	// Code, when not OK, fails every call with this code after the delay, instead of running it.
	Code codes.Code
}

// IsZero reports whether f injects nothing.
func (f Fault) IsZero() bool { return f == Fault{} }

// String formats f as ParseFaults reads it, such as "delay:50ms,fail:unavailable".
func (f Fault) String() string {
	var actions []string
	if f.Hang {
		actions = append(actions, "hang")
	}
	if f.Delay > 0 {
		actions = append(actions, "delay:"+f.Delay.String())
	}
	if f.Code != codes.OK {
		actions = append(actions, "fail:"+strings.ToLower(codeName(f.Code)))
	}
	return strings.Join(actions, ",")
}

// ParseFaults reads a fault specification: entries "service=action[,action]" separated by ";",
// where service is users, orders or catalog and each action is one of
//
//	delay:DURATION   hold every call for DURATION ("50ms") before running it
//	hang             hold every call until the caller cancels it or its deadline passes
//	fail:CODE        fail every call with the gRPC code CODE ("unavailable", "not_found")
//
// for example "users=delay:50ms;catalog=fail:unavailable;orders=hang". An empty spec is no
// fault.
func ParseFaults(spec string) (map[string]Fault, error) {
	faults := make(map[string]Fault)
	for entry := range strings.SplitSeq(spec, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, actions, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok || !slices.Contains(ServiceNames(), name) {
			return nil, fmt.Errorf("server.ParseFaults: %q: want service=action[,action] with a service of %v", entry, ServiceNames())
		}
		if _, dup := faults[name]; dup {
			return nil, fmt.Errorf("server.ParseFaults: service %q named twice", name)
		}
		var f Fault
		for action := range strings.SplitSeq(actions, ",") {
			if err := f.parseAction(strings.TrimSpace(action)); err != nil {
				return nil, fmt.Errorf("server.ParseFaults: %s: %w", name, err)
			}
		}
		faults[name] = f
	}
	return faults, nil
}

func (f *Fault) parseAction(action string) error {
	kind, arg, _ := strings.Cut(action, ":")
	switch kind {
	case "hang":
		f.Hang = true
	case "delay":
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return fmt.Errorf("delay:%s: want a positive duration such as 50ms", arg)
		}
		f.Delay = d
	case "fail":
		c, ok := codeByName(arg)
		if !ok || c == codes.OK {
			return fmt.Errorf("fail:%s: want a gRPC code other than ok, such as unavailable or internal", arg)
		}
		f.Code = c
	default:
		return fmt.Errorf("unknown action %q: want delay:DURATION, hang or fail:CODE", action)
	}
	return nil
}

// codeName returns the code's name as in google.rpc.Code, such as "UNAVAILABLE".
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// codeByName finds a code by its name in any case: "unavailable", "NOT_FOUND".
func codeByName(name string) (codes.Code, bool) {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if strings.EqualFold(codeName(c), name) {
			return c, true
		}
	}
	return 0, false
}

// faultMessage is the message of a call failed by a fault.
const faultMessage = "injected fault"

// The links that newGRPCServer adds for a fault log each injection at info level with the
// message "injected fault" and the attributes grpc.method, fault and outcome: "delayed",
// "failed", or the error of a call whose context ended while it was held, such as "context
// canceled"; tests read these records to see what a backend observed.

// storefrontOnly selects the calls to the storefront services, leaving out health checks and
// server reflection.
var storefrontOnly = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return strings.HasPrefix(c.Service, "storefront.")
})

func (f Fault) unary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := f.inject(ctx, info.FullMethod, logger); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func (f Fault) stream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := f.inject(ss.Context(), info.FullMethod, logger); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// inject holds the call for the fault's delay, then fails it when the fault has a code.
func (f Fault) inject(ctx context.Context, method string, logger *slog.Logger) error {
	log := func(outcome string) {
		logger.LogAttrs(ctx, slog.LevelInfo, faultMessage,
			slog.String("grpc.method", strings.TrimPrefix(method, "/")),
			slog.String("fault", f.String()),
			slog.String("outcome", outcome))
	}
	if f.Hang || f.Delay > 0 {
		var elapsed <-chan time.Time
		if !f.Hang {
			t := time.NewTimer(f.Delay)
			defer t.Stop()
			elapsed = t.C
		}
		select {
		case <-elapsed:
		case <-ctx.Done():
			log(ctx.Err().Error())
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if f.Code != codes.OK {
		log("failed")
		return status.Error(f.Code, faultMessage)
	}
	log("delayed")
	return nil
}
