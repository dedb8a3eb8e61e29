package gateway

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/gateway/transcode"
)

// route is one HTTP binding of a gRPC method, as declared by its google.api.http annotation.
type route struct {
	method     protoreflect.MethodDescriptor
	httpMethod string
	pattern    string
	// body is the annotation's body: "" (none), "*" (the whole request) or a top-level field.
	body string
	// pathFields are the request fields bound by path variables, such as "user.name".
	pathFields []string
	// policy is the method's route policy; nil until New attaches the policy table.
	policy *policy.Policy
}

// routeTable finds a route by HTTP method and the pattern that grpc-gateway matched.
type routeTable map[string]*route

func routeKey(httpMethod, pattern string) string { return httpMethod + " " + pattern }

func (t routeTable) lookup(httpMethod, pattern string) (*route, bool) {
	r, ok := t[routeKey(httpMethod, pattern)]
	return r, ok
}

// count returns the number of routes of the named service's methods.
func (t routeTable) count(service string) int {
	n := 0
	for _, r := range t {
		if string(r.method.Parent().FullName()) == service {
			n++
		}
	}
	return n
}

// unboundMethods returns the names of the named service's methods that have no google.api.http
// option, or "none" when all have one.
func unboundMethods(service string) []string {
	sds, err := serviceDescriptors([]string{service})
	if err != nil {
		return []string{"unknown"}
	}
	var names []string
	methods := sds[0].Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		if transcode.Rule(md) == nil {
			names = append(names, string(md.Name()))
		}
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// attachPolicies gives every route its method's policy from table, and logs the table at debug
// level, one record per method.
func (t routeTable) attachPolicies(table *policy.Table, logger *slog.Logger) error {
	for _, r := range t {
		name := policy.FullMethodName(r.method)
		p, ok := table.Lookup(name)
		if !ok {
			return fmt.Errorf("route %s %s: no policy for %s", r.httpMethod, r.pattern, name)
		}
		r.policy = p
	}
	for _, m := range table.Methods() {
		p, _ := table.Lookup(m)
		logger.Debug("route policy", slog.String("method", m), slog.String("policy", p.Describe()))
	}
	return nil
}

// serviceDescriptors finds the named services among the compiled descriptors linked into the
// binary.
func serviceDescriptors(services []string) ([]protoreflect.ServiceDescriptor, error) {
	sds := make([]protoreflect.ServiceDescriptor, 0, len(services))
	for _, name := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, fmt.Errorf("service %s: no descriptor linked into the gateway: %w", name, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("%s is not a service", name)
		}
		sds = append(sds, sd)
	}
	return sds, nil
}

// buildRoutes reads the google.api.http bindings of the named services from the compiled
// descriptors linked into the binary.
func buildRoutes(services []string) (routeTable, error) {
	sds, err := serviceDescriptors(services)
	if err != nil {
		return nil, err
	}
	return routesOf(sds)
}

// routesOf builds the route table of the google.api.http bindings of sds, parsed by
// transcode.Bindings, the one parser of the rules. Two bindings with the same HTTP method whose
// templates match the same requests (the same pattern, or the same shape under other variable
// names, such as "/v1/{name=users/*}" and "/v1/users/{id}") are an error naming both methods.
func routesOf(sds []protoreflect.ServiceDescriptor) (routeTable, error) {
	t := make(routeTable)
	shapes := make(map[string]*route)
	for _, sd := range sds {
		methods := sd.Methods()
		for i := range methods.Len() {
			md := methods.Get(i)
			bindings, err := transcode.Bindings(md)
			if err != nil {
				return nil, err
			}
			for _, b := range bindings {
				r := &route{method: md, httpMethod: b.HTTPMethod, pattern: b.Pattern.String(), body: b.Body, pathFields: b.Path.Fields()}
				key := routeKey(r.httpMethod, r.pattern)
				if other, ok := t[key]; ok {
					// The mux would serve one of the two, and the table could name the
					// other's policy.
					return nil, fmt.Errorf("route %s is declared by both %s and %s",
						key, policy.FullMethodName(other.method), policy.FullMethodName(md))
				}
				shape := routeKey(b.HTTPMethod, b.Path.Shape())
				if other, ok := shapes[shape]; ok {
					return nil, fmt.Errorf("routes %s (%s) and %s (%s) match the same requests",
						routeKey(other.httpMethod, other.pattern), policy.FullMethodName(other.method), key, policy.FullMethodName(md))
				}
				t[key] = r
				shapes[shape] = r
			}
		}
	}
	return t, nil
}

// checkQuery returns an INVALID_ARGUMENT status naming the first query parameter that would
// not set a field of the request message: an unknown name, a path into a scalar, a field that
// the path or the body already binds, or any parameter on a route whose body is the whole
// request. grpc-gateway itself drops such parameters silently.
//
// When several parameters are refused, the first in byte order is named, so that the same
// request always gets the same answer (url.Values is a map).
func (r *route) checkQuery(values url.Values) error {
	var bad, why string
	for key := range values {
		if reason := r.queryProblem(key); reason != "" && (why == "" || key < bad) {
			bad, why = key, reason
		}
	}
	if why != "" {
		return badRequest("query parameter", bad, why)
	}
	return nil
}

func (r *route) queryProblem(key string) string {
	if r.body == "*" {
		return "this operation takes its input from the request body, not the query string"
	}
	fieldPath := key
	if i := strings.IndexByte(fieldPath, '['); i >= 0 {
		fieldPath = fieldPath[:i]
	}
	segs := strings.Split(fieldPath, ".")
	md := r.method.Input()
	var names []string
	for i, seg := range segs {
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			fd = md.Fields().ByJSONName(seg)
		}
		if fd == nil {
			return "unknown parameter"
		}
		names = append(names, string(fd.Name()))
		last := i == len(segs)-1
		if !last {
			if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() || isScalarLike(fd.Message()) {
				return "unknown parameter"
			}
			md = fd.Message()
		}
	}
	bound := strings.Join(names, ".")
	for _, p := range r.pathFields {
		if bound == p || strings.HasPrefix(p, bound+".") || strings.HasPrefix(bound, p+".") {
			return "the field is set by the URL path"
		}
	}
	if r.body != "" && (names[0] == r.body) {
		return "the field is set by the request body"
	}
	return ""
}

// isScalarLike reports whether a message type is written as a single query value, such as a
// Timestamp ("2026-01-02T15:04:05Z") or a FieldMask ("title,price").
func isScalarLike(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

// badRequest is an INVALID_ARGUMENT status with a google.rpc.BadRequest detail for one field.
func badRequest(kind, field, reason string) error {
	st := status.New(codes.InvalidArgument, fmt.Sprintf("%s %q: %s", kind, field, reason))
	withDetails, err := st.WithDetails(&errdetails.BadRequest{
		// A proto string holds UTF-8 only: a field named by a client's bytes is shown as valid UTF-8.
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: strings.ToValidUTF8(field, "\uFFFD"), Description: reason}},
	})
	if err != nil {
		return st.Err()
	}
	return withDetails.Err()
}
