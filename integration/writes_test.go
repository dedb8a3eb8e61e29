package integration

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// TestUserCRUD creates, reads, updates and deletes a user: POST with body "user", GET and
// DELETE on {name=users/*}, PATCH on the nested {user.name=users/*} with an update_mask.
func TestUserCRUD(t *testing.T) {
	t.Parallel()
	g := startStack(t).gw

	resp := g.do(t, http.MethodPost, "/v1/users", `{"user":{"displayName":"Wrapped","email":"wrapped@example.com"}}`)
	t.Run("body is the user field itself", func(t *testing.T) {
		expectStatus(t, resp, http.StatusBadRequest, 3)
	})

	resp = g.do(t, http.MethodPost, "/v1/users", `{
		"displayName": "Integration Tester",
		"email": "integration.tester@example.com",
		"tags": ["beta"],
		"address": {"street": "1 Test Way", "city": "Berlin", "postalCode": "10115", "countryCode": "DE"}
	}`)
	created := decodeUser(t, resp, http.StatusCreated)
	name := created.GetName()
	if !strings.HasPrefix(name, "users/") || created.GetDisplayName() != "Integration Tester" ||
		created.GetState() != usersv1.UserState_USER_STATE_ACTIVE || created.GetCreateTime() == nil {
		t.Fatalf("%s: want a new ACTIVE user with a server-assigned name", resp)
	}
	loc := resp.header.Get("Location")
	if loc != "/v1/"+name {
		t.Errorf("Location %q, want %q", loc, "/v1/"+name)
	}

	t.Run("Location answers", func(t *testing.T) {
		got := decodeUser(t, g.do(t, http.MethodGet, loc, ""), http.StatusOK)
		if !proto.Equal(got, created) {
			t.Errorf("GET %s: %v, want %v", loc, got, created)
		}
	})

	t.Run("PATCH changes only the masked field", func(t *testing.T) {
		resp := g.do(t, http.MethodPatch, "/v1/"+name+"?update_mask=display_name",
			`{"displayName":"Renamed Tester","email":"changed@example.com","tags":["other"]}`)
		got := decodeUser(t, resp, http.StatusOK)
		want := proto.Clone(created).(*usersv1.User)
		want.DisplayName = "Renamed Tester"
		want.UpdateTime = got.GetUpdateTime()
		if !proto.Equal(got, want) {
			t.Errorf("%s\nwant %v", resp, want)
		}
		if again := decodeUser(t, g.do(t, http.MethodGet, "/v1/"+name, ""), http.StatusOK); !proto.Equal(again, got) {
			t.Errorf("GET after PATCH: %v, want %v", again, got)
		}
		created = got
	})

	t.Run("PATCH with a nested mask path", func(t *testing.T) {
		resp := g.do(t, http.MethodPatch, "/v1/"+name+"?update_mask=address.city",
			`{"address":{"city":"Hamburg","countryCode":"FR"}}`)
		got := decodeUser(t, resp, http.StatusOK)
		want := proto.Clone(created).(*usersv1.User)
		want.Address.City = "Hamburg"
		want.UpdateTime = got.GetUpdateTime()
		if !proto.Equal(got, want) {
			t.Errorf("%s\nwant %v", resp, want)
		}
	})

	t.Run("PATCH with the mask in proto3 JSON form", func(t *testing.T) {
		resp := g.do(t, http.MethodPatch, "/v1/"+name+"?updateMask=displayName,address.postalCode",
			`{"displayName":"Camel Tester","address":{"postalCode":"20095"}}`)
		got := decodeUser(t, resp, http.StatusOK)
		want := proto.Clone(created).(*usersv1.User)
		want.DisplayName, want.Address.City, want.Address.PostalCode = "Camel Tester", "Hamburg", "20095"
		want.UpdateTime = got.GetUpdateTime()
		if !proto.Equal(got, want) {
			t.Errorf("%s\nwant %v", resp, want)
		}
		created = got
	})

	t.Run("PATCH breaking a rule of a masked field names it", func(t *testing.T) {
		// The backend's validation link checks only the masked field: email, required but not
		// sent, is not in the mask.
		resp := g.do(t, http.MethodPatch, "/v1/"+name+"?update_mask=display_name", `{"displayName":"`+strings.Repeat("x", 101)+`"}`)
		st := expectStatus(t, resp, http.StatusBadRequest, 3)
		var fields []string
		for _, v := range badRequest(t, st).GetFieldViolations() {
			fields = append(fields, v.GetField())
		}
		if !slices.Equal(fields, []string{"user.display_name"}) {
			t.Errorf("violations of %v, want one of user.display_name", fields)
		}
	})

	t.Run("DELETE then GET is 404", func(t *testing.T) {
		resp := g.do(t, http.MethodDelete, "/v1/"+name, "")
		if m := expectOK(t, resp, http.StatusOK); len(m) != 0 {
			t.Errorf("%s: want an empty object", resp)
		}
		expectStatus(t, g.do(t, http.MethodGet, "/v1/"+name, ""), http.StatusNotFound, 5)
		expectStatus(t, g.do(t, http.MethodDelete, "/v1/"+name, ""), http.StatusNotFound, 5)
	})
}

// TestCreateOrder places orders through POST /v1/{parent=users/*}/orders with body "order":
// the totals come from the catalog's prices, and an unknown product is a field violation.
func TestCreateOrder(t *testing.T) {
	t.Parallel()
	g := startStack(t).gw
	const user = "users/grace-hopper"

	var lp catalogv1.ListProductsResponse
	decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/products?page_size=100&in_stock=true", "")), &lp)
	if len(lp.GetProducts()) < 2 {
		t.Fatalf("%d products in stock, want at least 2", len(lp.GetProducts()))
	}
	p1, p2 := lp.GetProducts()[0], lp.GetProducts()[1]
	price := map[string]int64{p1.GetId(): p1.GetPrice().GetAmountMinor(), p2.GetId(): p2.GetPrice().GetAmountMinor()}

	listed := func(t *testing.T) []string {
		var r ordersv1.ListOrdersResponse
		decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/"+user+"/orders?page_size=100", "")), &r)
		return filterIDs(r.GetOrders(), orderName, func(*ordersv1.Order) bool { return true })
	}
	before := listed(t)

	t.Run("totals from catalog prices", func(t *testing.T) {
		o := createOrder(t, g, user, map[string]int{p1.GetId(): 3, p2.GetId(): 1})
		if wantTotal := 3*price[p1.GetId()] + price[p2.GetId()]; o.GetTotalMinor() != wantTotal {
			t.Errorf("totalMinor %d, want %d", o.GetTotalMinor(), wantTotal)
		}
		for _, it := range o.GetItems() {
			if it.GetUnitPriceMinor() != price[it.GetProductId()] {
				t.Errorf("item %s: unitPriceMinor %d, want %d", it.GetProductId(), it.GetUnitPriceMinor(), price[it.GetProductId()])
			}
		}
		if o.GetUser() != user || o.GetState() != ordersv1.OrderState_ORDER_STATE_PENDING ||
			o.GetCurrencyCode() != p1.GetPrice().GetCurrencyCode() || len(o.GetItems()) != 2 {
			t.Errorf("order %v: want a PENDING order of %s in %s with 2 items", o, user, p1.GetPrice().GetCurrencyCode())
		}
		var got ordersv1.Order
		decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/"+o.GetName(), "")), &got)
		if !proto.Equal(&got, o) {
			t.Errorf("GET %s: %v, want %v", o.GetName(), &got, o)
		}
		if after := listed(t); !slices.Contains(after, o.GetName()) || len(after) != len(before)+1 {
			t.Errorf("orders of %s: %v, want %v plus %s", user, after, before, o.GetName())
		}
	})

	t.Run("unknown product", func(t *testing.T) {
		before := listed(t)
		resp := g.do(t, http.MethodPost, "/v1/"+user+"/orders",
			fmt.Sprintf(`{"items":[{"productId":%q,"quantity":1},{"productId":"sku-does-not-exist","quantity":1}]}`, p1.GetId()))
		st := expectStatus(t, resp, http.StatusBadRequest, 3)
		var fields []string
		for _, v := range badRequest(t, st).GetFieldViolations() {
			fields = append(fields, v.GetField())
		}
		if !slices.ContainsFunc(fields, func(f string) bool {
			return strings.Contains(f, "items[1]") && strings.HasSuffix(f, "product_id")
		}) {
			t.Errorf("violations of %v, want one of the second item's product_id", fields)
		}
		if after := listed(t); !slices.Equal(after, before) {
			t.Errorf("orders of %s changed from %v to %v", user, before, after)
		}
	})
}

// TestWriteMappings covers the bindings with body "*" and custom verbs that change data:
// :adjust, :advance and :cancel.
func TestWriteMappings(t *testing.T) {
	t.Parallel()
	g := startStack(t).gw

	t.Run(":adjust", func(t *testing.T) {
		t.Parallel()
		const product = "sku-v60-dripper"
		stock := func(t *testing.T, resp *response) int32 {
			t.Helper()
			var sl catalogv1.StockLevel
			decodeProto(t, mustOK(t, resp), &sl)
			if sl.GetProductId() != product {
				t.Errorf("%s: want the stock of %s", resp, product)
			}
			return sl.GetAvailable()
		}
		start := stock(t, g.do(t, http.MethodGet, "/v1/products/"+product+"/stock", ""))
		if got := stock(t, g.do(t, http.MethodPost, "/v1/products/"+product+"/stock:adjust", `{"delta":-4,"reason":"breakage"}`)); got != start-4 {
			t.Errorf("after taking 4 of %d: %d available", start, got)
		}
		if got := stock(t, g.do(t, http.MethodPost, "/v1/products/"+product+"/stock:adjust", `{"delta":10}`)); got != start+6 {
			t.Errorf("after adding 10 to %d: %d available", start-4, got)
		}
		if got := stock(t, g.do(t, http.MethodGet, "/v1/products/"+product+"/stock", "")); got != start+6 {
			t.Errorf("GET stock: %d, want %d", got, start+6)
		}
	})

	t.Run(":advance and :cancel", func(t *testing.T) {
		t.Parallel()
		o := createOrder(t, g, "users/alan-turing", map[string]int{"sku-aeropress": 1})
		order := func(t *testing.T, resp *response) *ordersv1.Order {
			t.Helper()
			got := new(ordersv1.Order)
			decodeProto(t, mustOK(t, resp), got)
			return got
		}
		if got := order(t, g.do(t, http.MethodPost, "/v1/"+o.GetName()+":advance", `{}`)); got.GetState() != ordersv1.OrderState_ORDER_STATE_PAID {
			t.Errorf(":advance from PENDING: %v, want PAID", got.GetState())
		}
		got := order(t, g.do(t, http.MethodPost, "/v1/"+o.GetName()+":cancel", `{"reason":"changed my mind"}`))
		if got.GetState() != ordersv1.OrderState_ORDER_STATE_CANCELLED || got.GetCancelReason() != "changed my mind" {
			t.Errorf(":cancel: state %v, reason %q; want CANCELLED with the reason from the body", got.GetState(), got.GetCancelReason())
		}
		if again := order(t, g.do(t, http.MethodGet, "/v1/"+o.GetName(), "")); !proto.Equal(again, got) {
			t.Errorf("GET after :cancel: %v, want %v", again, got)
		}
	})
}
