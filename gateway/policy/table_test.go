package policy_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/policy"
	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

func services() []protoreflect.ServiceDescriptor {
	return []protoreflect.ServiceDescriptor{
		usersv1.File_storefront_users_v1_users_proto.Services().Get(0),
		ordersv1.File_storefront_orders_v1_orders_proto.Services().Get(0),
		catalogv1.File_storefront_catalog_v1_catalog_proto.Services().Get(0),
		edgev1.File_archway_edge_v1_composite_proto.Services().Get(0),
	}
}

func mustBuild(t *testing.T, cfg *config.Config) *policy.Table {
	t.Helper()
	table, err := policy.Build(services(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func lookup(t *testing.T, table *policy.Table, method string) *policy.Policy {
	t.Helper()
	p, ok := table.Lookup(method)
	if !ok {
		t.Fatalf("no policy for %s", method)
	}
	if p.Descriptor == nil || policy.FullMethodName(p.Descriptor) != method || policy.LinkedMethod(method) != p.Descriptor {
		t.Fatalf("policy of %s has descriptor %v", method, p.Descriptor)
	}
	return p
}

// TestAnnotations checks that the demo APIs' annotations, over the default configuration, give
// the policies their docs promise.
func TestAnnotations(t *testing.T) {
	t.Parallel()
	table := mustBuild(t, config.Default())
	for _, tc := range []struct {
		method string
		want   string
	}{
		{"/storefront.catalog.v1.CatalogService/GetProduct", "public, rate-limit default, timeout 30s, idempotent, cache 30s"},
		{"/storefront.catalog.v1.CatalogService/AdjustStock", "authenticated with scopes catalog.write, rate-limit default, timeout 30s"},
		{"/storefront.users.v1.UserService/GetUser", "authenticated, rate-limit default, timeout 30s, idempotent, cache 5s"},
		{"/storefront.users.v1.UserService/UpdateUser", "authenticated with scopes users.write, rate-limit default, timeout 30s, idempotent"},
		{"/storefront.orders.v1.OrderService/WatchOrder", "authenticated, rate-limit default, timeout 10m0s, idempotent"},
		{"/storefront.orders.v1.OrderService/SupportChat", "authenticated, rate-limit default, timeout 1h0m0s, idempotent"},
		{"/storefront.orders.v1.OrderService/CountOrders", "public, rate-limit default, timeout 30s, idempotent"},
		{"/archway.edge.v1.CompositeService/GetProductPage", "public, rate-limit default, timeout 30s, idempotent, cache 5s"},
		{"/archway.edge.v1.CompositeService/GetUserOverview", "authenticated, rate-limit default, timeout 30s, idempotent"},
	} {
		if got := lookup(t, table, tc.method).Describe(); got != tc.want {
			t.Errorf("%s: policy %q, want %q", tc.method, got, tc.want)
		}
	}
	if got := len(table.Methods()); got != 20 {
		t.Errorf("table has %d methods, want 20", got)
	}
}

func TestCachePolicy(t *testing.T) {
	t.Parallel()
	table := mustBuild(t, config.Default())
	get := lookup(t, table, "/storefront.catalog.v1.CatalogService/GetProduct").Cache
	if get.TTL != 30*time.Second || !get.Shared || get.NotFoundTTL != 5*time.Second {
		t.Errorf("GetProduct cache = %+v", get)
	}
	upd := lookup(t, table, "/storefront.users.v1.UserService/UpdateUser").Cache
	if upd.TTL != 0 || len(upd.Invalidates) != 1 || upd.Invalidates[0] != "{user.name=users/*}" {
		t.Errorf("UpdateUser cache = %+v", upd)
	}
}

func TestDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Policy.Defaults.Timeout = config.Duration(5 * time.Second)
	cfg.Policy.Defaults.RateLimitClass = "reads"
	cfg.RateLimit.Classes["reads"] = config.RateLimitClass{}
	cfg.IPFilter.Classes = map[string]config.IPFilterClass{"office": {}}
	no := false
	cfg.Policy.Routes = map[string]config.RouteOverride{
		"storefront.catalog.v1.CatalogService/GetProduct": {
			Access: "authenticated", RateLimitClass: "none", IPFilterClass: "office",
			Timeout: config.Duration(time.Second), Idempotent: &no,
		},
		"storefront.users.v1.UserService/ListUsers":  {Scopes: []string{}},
		"storefront.orders.v1.OrderService/GetOrder": {Scopes: []string{"orders.read"}, Access: "public"},
	}
	table := mustBuild(t, cfg)
	for _, tc := range []struct {
		method string
		want   string
	}{
		{"/storefront.catalog.v1.CatalogService/GetProduct", "authenticated, ip-filter office, timeout 1s, cache 30s"},
		{"/storefront.catalog.v1.CatalogService/GetStock", "public, rate-limit reads, timeout 5s, idempotent"},
		// An empty list of scopes in an override removes the annotated ones.
		{"/storefront.users.v1.UserService/ListUsers", "authenticated, rate-limit reads, timeout 5s, idempotent"},
		// Scopes make a method authenticated, whatever access says.
		{"/storefront.orders.v1.OrderService/GetOrder", "authenticated with scopes orders.read, rate-limit reads, timeout 5s, idempotent"},
	} {
		if got := lookup(t, table, tc.method).Describe(); got != tc.want {
			t.Errorf("%s: policy %q, want %q", tc.method, got, tc.want)
		}
	}
}

func TestOverrideOfAServiceNotServed(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Policy.Routes = map[string]config.RouteOverride{"archway.edge.v1.CompositeService/GetUserOverview": {Access: "public"}}
	table, err := policy.Build(services()[:3], cfg)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if _, ok := table.Lookup("/archway.edge.v1.CompositeService/GetUserOverview"); ok {
		t.Error("a method of a service not served has a policy")
	}
}

func TestPublicByDefault(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Policy.Defaults.Access = "public"
	cfg.Policy.Routes = map[string]config.RouteOverride{"storefront.users.v1.UserService/UpdateUser": {Scopes: []string{}}}
	table := mustBuild(t, cfg)
	// Removing a method's scopes leaves the access it had without them.
	if p := lookup(t, table, "/storefront.users.v1.UserService/UpdateUser"); p.Authenticated {
		t.Error("UpdateUser without its scopes is still authenticated under a public default")
	}
	// Unannotated access follows the default; annotated access and scopes do not.
	if p := lookup(t, table, "/storefront.orders.v1.OrderService/GetOrder"); !p.Authenticated {
		t.Error("GetOrder is annotated authenticated, but the public default won")
	}
	if p := lookup(t, table, "/storefront.users.v1.UserService/ListUsers"); !p.Authenticated {
		t.Error("ListUsers has scopes, but the public default made it public")
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(*config.Config)
		want   []string
	}{
		{
			name:   "unknown default rate-limit class",
			modify: func(c *config.Config) { c.Policy.Defaults.RateLimitClass = "reads" },
			want: []string{
				`/storefront.users.v1.UserService/GetUser: rate-limit class "reads" is not configured (rate_limit.classes has default)`,
			},
		},
		{
			name: "unknown classes in an override",
			modify: func(c *config.Config) {
				c.Policy.Routes = map[string]config.RouteOverride{
					"storefront.users.v1.UserService/GetUser": {RateLimitClass: "burst", IPFilterClass: "office"},
				}
			},
			want: []string{
				`/storefront.users.v1.UserService/GetUser: rate-limit class "burst" is not configured`,
				`/storefront.users.v1.UserService/GetUser: IP filter class "office" is not configured (ip_filter.classes has none)`,
			},
		},
		{
			name: "override for a method not served",
			modify: func(c *config.Config) {
				c.Policy.Routes = map[string]config.RouteOverride{"storefront.users.v1.UserService/GetUsers": {}}
			},
			want: []string{`policy.routes["storefront.users.v1.UserService/GetUsers"]: no method storefront.users.v1.UserService/GetUsers is linked into the gateway`},
		},
		{
			name: "bad access, scope and timeout",
			modify: func(c *config.Config) {
				c.Policy.Routes = map[string]config.RouteOverride{"storefront.users.v1.UserService/GetUser": {
					Access: "anyone", Scopes: []string{"users read"}, Timeout: config.Duration(-time.Second),
				}}
			},
			want: []string{
				`policy.routes["storefront.users.v1.UserService/GetUser"].access: must be "authenticated" or "public", got "anyone"`,
				`policy.routes["storefront.users.v1.UserService/GetUser"].scopes: scope "users read" must be non-empty`,
				`policy.routes["storefront.users.v1.UserService/GetUser"].timeout: must not be negative, got -1s`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			tc.modify(cfg)
			_, err := policy.Build(services(), cfg)
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	if p := policy.FromContext(ctx); p != nil {
		t.Fatalf("FromContext of a bare context = %v, want nil", p)
	}
	p := &policy.Policy{Method: "/a.B/C"}
	if got := policy.FromContext(policy.NewContext(ctx, p)); got != p {
		t.Fatalf("FromContext = %v, want %v", got, p)
	}
}
