package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// TestReadOnly runs the tests that change no data against one shared stack: a storefront
// process serving all three services and a gateway in front of it.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	t.Run("Mappings", func(t *testing.T) { t.Parallel(); testReadMappings(t, s.gw) })
	t.Run("Pagination", func(t *testing.T) { t.Parallel(); testPagination(t, s.gw) })
	t.Run("Errors", func(t *testing.T) { t.Parallel(); testErrors(t, s.gw) })
	t.Run("AccessLog", func(t *testing.T) { t.Parallel(); testAccessLog(t, s.gw) })
	t.Run("Health", func(t *testing.T) { t.Parallel(); testHealth(t, s.gw) })
}

// fixtures are every product, stock level, order and user of a stack, read through the API; the
// filter tests compute what a filtered list must hold from them.
type fixtures struct {
	products []*catalogv1.Product
	stock    map[string]int32 // product id → available
	orders   []*ordersv1.Order
	users    []*usersv1.User
}

// loadFixtures reads every product, stock level, order and user through the gateway.
func loadFixtures(t *testing.T, g *gateway) *fixtures {
	t.Helper()
	f := &fixtures{stock: make(map[string]int32)}

	var lp catalogv1.ListProductsResponse
	decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/products?page_size=100", "")), &lp)
	f.products = lp.GetProducts()
	if len(f.products) == 0 || lp.GetNextPageToken() != "" {
		t.Fatalf("GET /v1/products?page_size=100: %d products, next token %q; want every product on one page",
			len(f.products), lp.GetNextPageToken())
	}
	q := url.Values{"include_stock": {"true"}}
	for _, p := range f.products {
		q.Add("ids", p.GetId())
	}
	var bg catalogv1.BatchGetProductsResponse
	decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/products:batchGet?"+q.Encode(), "")), &bg)
	for _, sl := range bg.GetStockLevels() {
		f.stock[sl.GetProductId()] = sl.GetAvailable()
	}
	if len(f.stock) != len(f.products) {
		t.Fatalf("batchGet with include_stock: %d stock levels for %d products", len(f.stock), len(f.products))
	}

	var lo ordersv1.ListOrdersResponse
	decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/orders?page_size=100", "")), &lo)
	f.orders = lo.GetOrders()
	var lu usersv1.ListUsersResponse
	decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/users?page_size=100", "")), &lu)
	f.users = lu.GetUsers()
	if len(f.orders) == 0 || len(f.users) == 0 {
		t.Fatalf("fixtures: %d orders and %d users; want some of each", len(f.orders), len(f.users))
	}
	return f
}

// filterIDs returns the ids of the elements of all for which keep reports true, in order.
func filterIDs[T any](all []T, id func(T) string, keep func(T) bool) []string {
	var ids []string
	for _, e := range all {
		if keep(e) {
			ids = append(ids, id(e))
		}
	}
	return ids
}

// expectFiltered fails the test unless got lists exactly want, in order, and total is its
// length. want must be a proper, non-empty subset of the n elements, so that the case can tell
// a working filter from an ignored one.
func expectFiltered(t *testing.T, got, want []string, total int32, n int) {
	t.Helper()
	if len(want) == 0 || len(want) == n {
		t.Fatalf("bad test case: the filter keeps %d of %d elements", len(want), n)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if int(total) != len(want) {
		t.Errorf("totalSize %d, want %d", total, len(want))
	}
}

// productID, orderName and userName return the identifier of a listed resource.
func productID(p *catalogv1.Product) string { return p.GetId() }
func orderName(o *ordersv1.Order) string    { return o.GetName() }
func userName(u *usersv1.User) string       { return u.GetName() }

// testReadMappings checks every read-only shape of the HTTP annotations: path fields and
// resource names, additional bindings, query scalars, repeated and nested fields, enums,
// timestamps, field masks, response_body and custom verbs.
func testReadMappings(t *testing.T, g *gateway) {
	f := loadFixtures(t, g)
	products := func(t *testing.T, resp *response) ([]string, int32) {
		var r catalogv1.ListProductsResponse
		decodeProto(t, mustOK(t, resp), &r)
		return filterIDs(r.GetProducts(), productID, func(*catalogv1.Product) bool { return true }), r.GetTotalSize()
	}
	orders := func(t *testing.T, resp *response) ([]string, int32) {
		var r ordersv1.ListOrdersResponse
		decodeProto(t, mustOK(t, resp), &r)
		return filterIDs(r.GetOrders(), orderName, func(*ordersv1.Order) bool { return true }), r.GetTotalSize()
	}
	users := func(t *testing.T, resp *response) ([]string, int32) {
		var r usersv1.ListUsersResponse
		decodeProto(t, mustOK(t, resp), &r)
		return filterIDs(r.GetUsers(), userName, func(*usersv1.User) bool { return true }), r.GetTotalSize()
	}
	productCase := func(keep func(*catalogv1.Product) bool) func(*testing.T, *response) {
		return func(t *testing.T, resp *response) {
			got, total := products(t, resp)
			expectFiltered(t, got, filterIDs(f.products, productID, keep), total, len(f.products))
		}
	}
	orderCase := func(keep func(*ordersv1.Order) bool) func(*testing.T, *response) {
		return func(t *testing.T, resp *response) {
			got, total := orders(t, resp)
			expectFiltered(t, got, filterIDs(f.orders, orderName, keep), total, len(f.orders))
		}
	}
	userCase := func(keep func(*usersv1.User) bool) func(*testing.T, *response) {
		return func(t *testing.T, resp *response) {
			got, total := users(t, resp)
			expectFiltered(t, got, filterIDs(f.users, userName, keep), total, len(f.users))
		}
	}
	hasTag := func(tags []string, want ...string) bool {
		return slices.ContainsFunc(want, func(w string) bool { return slices.Contains(tags, w) })
	}
	const ada, aeropress, dripper = "users/ada-lovelace", "sku-aeropress", "sku-v60-dripper"
	var aeropressProduct *catalogv1.Product
	for _, p := range f.products {
		if p.GetId() == aeropress {
			aeropressProduct = p
		}
	}
	if aeropressProduct == nil {
		t.Fatalf("no product %s in the catalog", aeropress)
	}
	cutoff := time.Date(2026, time.February, 15, 0, 0, 0, 0, time.UTC)

	cases := []struct {
		name, path string
		check      func(t *testing.T, resp *response)
	}{
		{"path field", "/v1/products/" + aeropress, func(t *testing.T, resp *response) {
			var p catalogv1.Product
			decodeProto(t, mustOK(t, resp), &p)
			if !proto.Equal(&p, aeropressProduct) {
				t.Errorf("got %v, want %v", &p, aeropressProduct)
			}
		}},
		{"additional binding with path field", "/v1/catalog/products/" + aeropress, func(t *testing.T, resp *response) {
			var p catalogv1.Product
			decodeProto(t, mustOK(t, resp), &p)
			if !proto.Equal(&p, aeropressProduct) {
				t.Errorf("got %v, want %v", &p, aeropressProduct)
			}
		}},
		{"resource name users/*", "/v1/users/ada-lovelace", func(t *testing.T, resp *response) {
			var u usersv1.User
			decodeProto(t, mustOK(t, resp), &u)
			if u.GetName() != ada || u.GetEmail() == "" {
				t.Errorf("got %v, want user %s", &u, ada)
			}
		}},
		{"resource name orders/*", "/v1/orders/ord-1001", func(t *testing.T, resp *response) {
			var o ordersv1.Order
			decodeProto(t, mustOK(t, resp), &o)
			if o.GetName() != "orders/ord-1001" || o.GetUser() != ada || len(o.GetItems()) == 0 {
				t.Errorf("got %v, want orders/ord-1001 of %s", &o, ada)
			}
		}},
		// docs/design.md: canonical proto3 JSON, lowerCamelCase names, 64-bit integers as
		// strings, fields at their default value omitted.
		{"canonical proto3 JSON", "/v1/users/linus-torvalds", func(t *testing.T, resp *response) {
			m := expectOK(t, resp, http.StatusOK)
			for _, k := range []string{"name", "displayName", "email", "state", "address", "createTime", "updateTime"} {
				if _, ok := m[k]; !ok {
					t.Errorf("field %q missing from %s", k, resp.body)
				}
			}
			for _, k := range []string{"display_name", "create_time", "tags"} {
				if _, ok := m[k]; ok {
					t.Errorf("field %q in %s: want lowerCamelCase names and no empty tags", k, resp.body)
				}
			}
			p := expectOK(t, g.do(t, http.MethodGet, "/v1/products/"+aeropress, ""), http.StatusOK)
			if _, ok := path(p, "price.amountMinor").(string); !ok {
				t.Errorf("price.amountMinor = %#v, want an int64 as a JSON string", path(p, "price.amountMinor"))
			}
		}},
		{"FieldMask read_mask", "/v1/products/" + aeropress + "?read_mask=id,title", func(t *testing.T, resp *response) {
			m := expectOK(t, resp, http.StatusOK)
			if m["id"] != aeropress || m["title"] != aeropressProduct.GetTitle() {
				t.Errorf("id/title = %v/%v, want %s/%s", m["id"], m["title"], aeropress, aeropressProduct.GetTitle())
			}
			// Fields outside the mask carry no data: absent, or at their zero value.
			zero := map[string]any{"description": "", "category": "CATEGORY_UNSPECIFIED", "price": nil, "createTime": nil}
			for k, v := range m {
				if k == "id" || k == "title" {
					continue
				}
				if want, ok := zero[k]; ok && v == want {
					continue
				}
				if tags, ok := v.([]any); ok && k == "tags" && len(tags) == 0 {
					continue
				}
				t.Errorf("%s = %v: the mask leaves it out", k, v)
			}
		}},
		{"FieldMask readMask on a list", "/v1/products?page_size=100&readMask=id,price", func(t *testing.T, resp *response) {
			var r catalogv1.ListProductsResponse
			decodeProto(t, mustOK(t, resp), &r)
			if len(r.GetProducts()) != len(f.products) {
				t.Fatalf("%d products, want %d", len(r.GetProducts()), len(f.products))
			}
			for _, p := range r.GetProducts() {
				if p.GetId() == "" || p.GetPrice() == nil || p.GetTitle() != "" || p.GetCreateTime() != nil {
					t.Errorf("product %v: want only id and price", p)
				}
			}
		}},
		{"enum by name", "/v1/products?page_size=100&category=CATEGORY_EQUIPMENT", productCase(func(p *catalogv1.Product) bool {
			return p.GetCategory() == catalogv1.Category_CATEGORY_EQUIPMENT
		})},
		{"repeated scalar", "/v1/products?page_size=100&tags=gift&tags=decaf", productCase(func(p *catalogv1.Product) bool {
			return hasTag(p.GetTags(), "gift", "decaf")
		})},
		{"nested field, lowerCamelCase", "/v1/products?page_size=100&price.minMinor=2000&price.maxMinor=5000", productCase(func(p *catalogv1.Product) bool {
			return p.GetPrice().GetAmountMinor() >= 2000 && p.GetPrice().GetAmountMinor() <= 5000
		})},
		{"nested field, snake_case", "/v1/products?page_size=100&price.min_minor=2000&price.max_minor=5000", productCase(func(p *catalogv1.Product) bool {
			return p.GetPrice().GetAmountMinor() >= 2000 && p.GetPrice().GetAmountMinor() <= 5000
		})},
		{"bool", "/v1/products?page_size=100&in_stock=true", productCase(func(p *catalogv1.Product) bool {
			return f.stock[p.GetId()] > 0
		})},
		{"filters combined", "/v1/products?page_size=100&category=CATEGORY_COFFEE&tags=espresso&in_stock=true", productCase(func(p *catalogv1.Product) bool {
			return p.GetCategory() == catalogv1.Category_CATEGORY_COFFEE && hasTag(p.GetTags(), "espresso") && f.stock[p.GetId()] > 0
		})},
		{"sort enum", "/v1/products?page_size=100&order_by=PRODUCT_ORDER_PRICE_DESC", func(t *testing.T, resp *response) {
			var r catalogv1.ListProductsResponse
			decodeProto(t, mustOK(t, resp), &r)
			ps := r.GetProducts()
			if len(ps) != len(f.products) {
				t.Fatalf("%d products, want %d", len(ps), len(f.products))
			}
			for i := 1; i < len(ps); i++ {
				if ps[i].GetPrice().GetAmountMinor() > ps[i-1].GetPrice().GetAmountMinor() {
					t.Errorf("%s (%d) after %s (%d): not most expensive first", ps[i].GetId(),
						ps[i].GetPrice().GetAmountMinor(), ps[i-1].GetId(), ps[i-1].GetPrice().GetAmountMinor())
				}
			}
		}},
		{"custom verb :batchGet with repeated ids", "/v1/products:batchGet?ids=" + dripper + "&ids=" + aeropress + "&ids=sku-missing&ids=" + dripper + "&include_stock=true",
			func(t *testing.T, resp *response) {
				var r catalogv1.BatchGetProductsResponse
				decodeProto(t, mustOK(t, resp), &r)
				got := filterIDs(r.GetProducts(), productID, func(*catalogv1.Product) bool { return true })
				if want := []string{dripper, aeropress}; !slices.Equal(got, want) {
					t.Errorf("products %v, want %v", got, want)
				}
				if want := []string{"sku-missing"}; !slices.Equal(r.GetMissingIds(), want) {
					t.Errorf("missingIds %v, want %v", r.GetMissingIds(), want)
				}
				if len(r.GetStockLevels()) != 2 {
					t.Errorf("%d stock levels, want 2", len(r.GetStockLevels()))
				}
				for _, sl := range r.GetStockLevels() {
					if sl.GetAvailable() != f.stock[sl.GetProductId()] {
						t.Errorf("stock of %s: %d, want %d", sl.GetProductId(), sl.GetAvailable(), f.stock[sl.GetProductId()])
					}
				}
			}},
		{"response_body", "/v1/products/" + aeropress + "/stock", func(t *testing.T, resp *response) {
			m := expectOK(t, resp, http.StatusOK)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if want := []string{"available", "productId", "updateTime"}; !slices.Equal(keys, want) {
				t.Fatalf("keys %v, want the StockLevel alone %v", keys, want)
			}
			var sl catalogv1.StockLevel
			decodeProto(t, resp, &sl)
			if sl.GetProductId() != aeropress || sl.GetAvailable() != f.stock[aeropress] {
				t.Errorf("got %v, want %s with %d available", &sl, aeropress, f.stock[aeropress])
			}
		}},
		{"additional binding /v1/orders", "/v1/orders?page_size=100", func(t *testing.T, resp *response) {
			got, total := orders(t, resp)
			if !slices.Contains(got, "orders/ord-1001") || int(total) != len(got) || len(got) < 25 {
				t.Errorf("orders %v (total %d), want every seeded order", got, total)
			}
			users := map[string]bool{}
			for _, o := range f.orders {
				users[o.GetUser()] = true
			}
			if len(users) < 2 {
				t.Errorf("/v1/orders lists orders of %d users, want every user's", len(users))
			}
		}},
		{"parent users/*", "/v1/users/ada-lovelace/orders?page_size=100", orderCase(func(o *ordersv1.Order) bool {
			return o.GetUser() == ada
		})},
		{"repeated enum", "/v1/orders?page_size=100&states=ORDER_STATE_CANCELLED&states=ORDER_STATE_SHIPPED", orderCase(func(o *ordersv1.Order) bool {
			return o.GetState() == ordersv1.OrderState_ORDER_STATE_CANCELLED || o.GetState() == ordersv1.OrderState_ORDER_STATE_SHIPPED
		})},
		{"nested field total.min_minor", "/v1/orders?page_size=100&total.min_minor=5000", orderCase(func(o *ordersv1.Order) bool {
			return o.GetTotalMinor() >= 5000
		})},
		{"nested field total.minMinor and maxMinor", "/v1/orders?page_size=100&total.minMinor=2000&total.maxMinor=5000", orderCase(func(o *ordersv1.Order) bool {
			return o.GetTotalMinor() >= 2000 && o.GetTotalMinor() <= 5000
		})},
		{"Timestamp", "/v1/orders?page_size=100&created_after=" + cutoff.Format(time.RFC3339), orderCase(func(o *ordersv1.Order) bool {
			return !o.GetCreateTime().AsTime().Before(cutoff)
		})},
		{"scalar under a parent", "/v1/users/ada-lovelace/orders?page_size=100&product_id=sku-espresso-250", orderCase(func(o *ordersv1.Order) bool {
			return o.GetUser() == ada && slices.ContainsFunc(o.GetItems(), func(it *ordersv1.LineItem) bool { return it.GetProductId() == "sku-espresso-250" })
		})},
		{"users: enum, repeated, scalar", "/v1/users?page_size=100&state=USER_STATE_ACTIVE&tags=vip&tags=newsletter&country_code=GB", userCase(func(u *usersv1.User) bool {
			return u.GetState() == usersv1.UserState_USER_STATE_ACTIVE && slices.Contains(u.GetTags(), "vip") &&
				slices.Contains(u.GetTags(), "newsletter") && u.GetAddress().GetCountryCode() == "GB"
		})},
		{"users: Timestamp in lowerCamelCase", "/v1/users?page_size=100&createdAfter=" + cutoff.AddDate(0, 0, -30).Format(time.RFC3339), userCase(func(u *usersv1.User) bool {
			return !u.GetCreateTime().AsTime().Before(cutoff.AddDate(0, 0, -30))
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, g.do(t, http.MethodGet, c.path, ""))
		})
	}
}

// testPagination walks every page of the product, user and order lists and checks that the
// pages add up to the total, and that a page token that was tampered with is rejected.
func testPagination(t *testing.T, g *gateway) {
	type page struct {
		ids   []string
		next  string
		total int32
	}
	lists := []struct {
		name, path string
		size       int
		decode     func(t *testing.T, resp *response) page
	}{
		{"products", "/v1/products", 5, func(t *testing.T, resp *response) page {
			var r catalogv1.ListProductsResponse
			decodeProto(t, mustOK(t, resp), &r)
			return page{filterIDs(r.GetProducts(), productID, func(*catalogv1.Product) bool { return true }), r.GetNextPageToken(), r.GetTotalSize()}
		}},
		{"users", "/v1/users", 3, func(t *testing.T, resp *response) page {
			var r usersv1.ListUsersResponse
			decodeProto(t, mustOK(t, resp), &r)
			return page{filterIDs(r.GetUsers(), userName, func(*usersv1.User) bool { return true }), r.GetNextPageToken(), r.GetTotalSize()}
		}},
		{"orders", "/v1/orders", 7, func(t *testing.T, resp *response) page {
			var r ordersv1.ListOrdersResponse
			decodeProto(t, mustOK(t, resp), &r)
			return page{filterIDs(r.GetOrders(), orderName, func(*ordersv1.Order) bool { return true }), r.GetNextPageToken(), r.GetTotalSize()}
		}},
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			var all []string
			var firstToken string
			token := ""
			pages := 0
			var total int32
			for {
				q := url.Values{"page_size": {fmt.Sprint(l.size)}}
				if token != "" {
					q.Set("page_token", token)
				}
				p := l.decode(t, g.do(t, http.MethodGet, l.path+"?"+q.Encode(), ""))
				pages++
				if pages == 1 {
					total, firstToken = p.total, p.next
				} else if p.total != total {
					t.Errorf("page %d: totalSize %d, first page said %d", pages, p.total, total)
				}
				if len(p.ids) > l.size || (p.next != "" && len(p.ids) != l.size) {
					t.Errorf("page %d: %d items with page_size %d (next token %q)", pages, len(p.ids), l.size, p.next)
				}
				all = append(all, p.ids...)
				if p.next == "" {
					break
				}
				if pages > int(total)+1 {
					t.Fatalf("still paging after %d pages for %d items", pages, total)
				}
				token = p.next
			}
			seen := make(map[string]bool)
			for _, id := range all {
				if seen[id] {
					t.Errorf("%s listed twice", id)
				}
				seen[id] = true
			}
			if len(all) != int(total) || total == 0 {
				t.Errorf("walked %d items in %d pages, totalSize %d", len(all), pages, total)
			}
			if wantPages := (int(total) + l.size - 1) / l.size; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}

			if firstToken == "" {
				t.Fatal("no next page token on the first page")
			}
			for name, bad := range map[string]string{
				"tampered": tamper(firstToken),
				"garbage":  "not-a-page-token",
			} {
				q := url.Values{"page_size": {fmt.Sprint(l.size)}, "page_token": {bad}}
				resp := g.do(t, http.MethodGet, l.path+"?"+q.Encode(), "")
				t.Run(name+" token", func(t *testing.T) { expectStatus(t, resp, http.StatusBadRequest, 3) })
			}
		})
	}
}

// tamper changes one character in the middle of a page token, keeping it well-formed base64.
func tamper(token string) string {
	b := []byte(token)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// testErrors checks that every kind of failure is a google.rpc.Status JSON body with the HTTP
// status of the standard table. None of the requests changes data when the gateway and the
// backends behave.
func testErrors(t *testing.T, g *gateway) {
	big := `{"displayName":"` + strings.Repeat("x", 2*maxBodyBytes) + `","email":"big@example.com"}`
	cases := []struct {
		name         string
		method, path string
		body         string
		chunked      bool // send the body without a Content-Length
		httpCode     int
		grpcCode     int32
		check        func(t *testing.T, resp *response, st *spb.Status)
	}{
		{name: "unknown route", method: "GET", path: "/v1/nothing-here", httpCode: 404, grpcCode: 5},
		{name: "unknown version", method: "GET", path: "/v2/users", httpCode: 404, grpcCode: 5},
		{name: "unknown user", method: "GET", path: "/v1/users/nobody", httpCode: 404, grpcCode: 5},
		{name: "unknown order", method: "GET", path: "/v1/orders/ord-999999", httpCode: 404, grpcCode: 5},
		{name: "watch an unknown order", method: "GET", path: "/v1/orders/ord-999999:watch", httpCode: 404, grpcCode: 5},
		{name: "unknown product", method: "GET", path: "/v1/products/sku-nothing", httpCode: 404, grpcCode: 5},
		{name: "unknown product on the additional binding", method: "GET", path: "/v1/catalog/products/sku-nothing", httpCode: 404, grpcCode: 5},
		{name: "PATCH unknown user", method: "PATCH", path: "/v1/users/nobody?update_mask=display_name", body: `{"displayName":"X"}`, httpCode: 404, grpcCode: 5},
		{name: "405 on a collection", method: "PUT", path: "/v1/users", body: `{}`, httpCode: 405, grpcCode: 12, check: allow("GET", "POST")},
		{name: "405 on a resource", method: "POST", path: "/v1/users/ada-lovelace", body: `{}`, httpCode: 405, grpcCode: 12, check: allow("DELETE", "GET", "PATCH")},
		{name: "405 on response_body route", method: "DELETE", path: "/v1/products/sku-aeropress/stock", httpCode: 405, grpcCode: 12, check: allow("GET")},
		{name: "405 on a custom verb", method: "POST", path: "/v1/products:batchGet", body: `{}`, httpCode: 405, grpcCode: 12, check: allow("GET")},
		{name: "405 on a streaming custom verb", method: "POST", path: "/v1/orders/ord-1001:watch", body: `{}`, httpCode: 405, grpcCode: 12, check: allow("GET")},
		{name: "unknown query parameter", method: "GET", path: "/v1/users?colour=red", httpCode: 400, grpcCode: 3, check: mentions("colour")},
		{name: "unknown query parameter on a path route", method: "GET", path: "/v1/products/sku-aeropress?flavour=mild", httpCode: 400, grpcCode: 3, check: mentions("flavour")},
		{name: "unknown nested query parameter", method: "GET", path: "/v1/products?price.medianMinor=3", httpCode: 400, grpcCode: 3, check: mentions("price.medianMinor")},
		{name: "unknown body field", method: "POST", path: "/v1/users", body: `{"displayName":"","email":"x@example.com","nickname":"x"}`, httpCode: 400, grpcCode: 3, check: mentions("nickname")},
		{name: "unknown body field with body *", method: "POST", path: "/v1/products/sku-aeropress/stock:adjust", body: `{"delta":0,"reasons":"x"}`, httpCode: 400, grpcCode: 3, check: mentions("reasons")},
		{name: "malformed JSON", method: "POST", path: "/v1/users", body: `{"displayName":`, httpCode: 400, grpcCode: 3},
		{name: "JSON of the wrong type", method: "POST", path: "/v1/users", body: `{"displayName":5,"email":"y@example.com"}`, httpCode: 400, grpcCode: 3},
		{name: "body over the limit", method: "POST", path: "/v1/users", body: big, httpCode: 413, grpcCode: 3},
		{name: "chunked body over the limit", method: "POST", path: "/v1/users", body: big, chunked: true, httpCode: 413, grpcCode: 3},
		{name: "duplicate email", method: "POST", path: "/v1/users", body: `{"displayName":"Ada Again","email":"ada@example.org"}`, httpCode: 409, grpcCode: 6},
		{name: "cancel a cancelled order", method: "POST", path: "/v1/orders/ord-1004:cancel", body: `{"reason":"again"}`, httpCode: 400, grpcCode: 9},
		{name: "advance a delivered order", method: "POST", path: "/v1/orders/ord-1001:advance", body: `{}`, httpCode: 400, grpcCode: 9},
		{name: "take stock that is not there", method: "POST", path: "/v1/products/sku-kenya-aa-250/stock:adjust", body: `{"delta":-1}`, httpCode: 400, grpcCode: 9},
		{name: "invalid email", method: "POST", path: "/v1/users", body: `{"displayName":"Not An Email","email":"not-an-email"}`, httpCode: 400, grpcCode: 3, check: violation("user.email")},
		{name: "page_size out of range", method: "GET", path: "/v1/products?page_size=1000", httpCode: 400, grpcCode: 3, check: violation("page_size")},
		{name: "resource name pattern", method: "GET", path: "/v1/users/Ada_Lovelace", httpCode: 400, grpcCode: 3, check: violation("name")},
		{name: "order without items", method: "POST", path: "/v1/users/ada-lovelace/orders", body: `{"items":[]}`, httpCode: 400, grpcCode: 3, check: violation("order.items")},
		{name: "unknown enum name", method: "GET", path: "/v1/products?category=CATEGORY_TEA", httpCode: 400, grpcCode: 3},
		{name: "malformed Timestamp", method: "GET", path: "/v1/orders?created_after=yesterday", httpCode: 400, grpcCode: 3},
		{name: "malformed integer", method: "GET", path: "/v1/products?page_size=ten", httpCode: 400, grpcCode: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			switch {
			case c.body == "":
			case c.chunked:
				body = io.MultiReader(strings.NewReader(c.body))
			default:
				body = strings.NewReader(c.body)
			}
			resp := g.request(t, c.method, c.path, body, nil)
			st := expectStatus(t, resp, c.httpCode, c.grpcCode)
			if c.check != nil {
				c.check(t, resp, st)
			}
		})
	}
}

// allow checks that the Allow header lists exactly methods, in any order.
func allow(methods ...string) func(t *testing.T, resp *response, st *spb.Status) {
	return func(t *testing.T, resp *response, _ *spb.Status) {
		t.Helper()
		var got []string
		for _, v := range resp.header.Values("Allow") {
			for _, m := range strings.Split(v, ",") {
				if m = strings.TrimSpace(m); m != "" && m != "HEAD" && m != "OPTIONS" {
					got = append(got, m)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, methods) {
			t.Errorf("Allow %q, want %v", resp.header.Values("Allow"), methods)
		}
	}
}

// mentions checks that the status message names s.
func mentions(s string) func(t *testing.T, resp *response, st *spb.Status) {
	return func(t *testing.T, _ *response, st *spb.Status) {
		t.Helper()
		if msg := st.GetMessage(); !strings.Contains(msg, s) {
			t.Errorf("message %q does not name %q", msg, s)
		}
	}
}

// violation checks that the status carries a google.rpc.BadRequest detail with a violation of
// field.
func violation(field string) func(t *testing.T, resp *response, st *spb.Status) {
	return func(t *testing.T, _ *response, st *spb.Status) {
		t.Helper()
		br := badRequest(t, st)
		var fields []string
		for _, v := range br.GetFieldViolations() {
			fields = append(fields, v.GetField())
			if v.GetDescription() == "" {
				t.Errorf("violation of %s has no description", v.GetField())
			}
		}
		if !slices.Contains(fields, field) {
			t.Errorf("violations of %v, want one of %s", fields, field)
		}
	}
}

// testAccessLog sends requests with known request ids and checks the gateway's access log
// record of each.
func testAccessLog(t *testing.T, g *gateway) {
	cases := []struct {
		name, method, path, body string
		routes                   []string // acceptable route patterns
		status                   int
	}{
		{"resource name", "GET", "/v1/users/ada-lovelace", "", []string{"/v1/{name=users/*}"}, 200},
		{"nested path field", "PATCH", "/v1/users/nobody?update_mask=display_name", `{"displayName":"X"}`, []string{"/v1/{user.name=users/*}"}, 404},
		{"plain path field", "GET", "/v1/products/sku-aeropress", "", []string{"/v1/products/{id}", "/v1/products/{id=*}"}, 200},
		{"custom verb", "GET", "/v1/products:batchGet?ids=sku-aeropress", "", []string{"/v1/products:batchGet"}, 200},
		{"additional binding", "GET", "/v1/orders?page_size=1", "", []string{"/v1/orders"}, 200},
		{"validation error", "GET", "/v1/products?page_size=1000", "", []string{"/v1/products"}, 400},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("itest-access-log-%d-%d", time.Now().UnixNano(), i)
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			resp := g.request(t, c.method, c.path, body, http.Header{"X-Request-Id": {id}})
			if resp.code != c.status {
				t.Fatalf("%s: want HTTP %d", resp, c.status)
			}
			if got := resp.header.Get("X-Request-Id"); got != id {
				t.Errorf("X-Request-Id %q, want the client's %q echoed", got, id)
			}
			rec := g.waitRecord(t, 5*time.Second, "with request_id "+id, func(r record) bool {
				return r.str("request_id") == id
			})
			wantPath, _, _ := strings.Cut(c.path, "?")
			if rec.str("method") != c.method || rec.str("path") != wantPath {
				t.Errorf("record %v: want method %s and path %s", rec, c.method, wantPath)
			}
			if !slices.Contains(c.routes, rec.str("route")) {
				t.Errorf("record %v: route %q, want one of %q", rec, rec.str("route"), c.routes)
			}
			if st, ok := rec["status"].(float64); !ok || int(st) != c.status {
				t.Errorf("record %v: status %v, want %d", rec, rec["status"], c.status)
			}
		})
	}
}

// testHealth checks the health endpoints of a stack whose backends are all up.
func testHealth(t *testing.T, g *gateway) {
	resp := g.do(t, http.MethodGet, "/healthz", "")
	expectOK(t, resp, http.StatusOK)

	resp = g.do(t, http.MethodGet, "/readyz", "")
	if m := expectOK(t, resp, http.StatusOK); m["status"] != "ready" {
		t.Errorf("%s: want {\"status\":\"ready\"}", resp)
	}

	admin, err := send(http.MethodGet, g.admin+"/readyz", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectOK(t, admin, http.StatusOK)
	for _, name := range []string{"users", "orders", "catalog"} {
		if !strings.Contains(string(admin.body), `"`+name+`"`) {
			t.Errorf("%s: no detail for backend %s", admin, name)
		}
	}
}
