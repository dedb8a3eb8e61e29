package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

// TestOwnersAndAdmins checks the storefront's object-level authorization end to end, through the
// gateway and the real backends: an ordinary user reaches another user's records on no path
// (REST, the support chat over WebSocket, the composite overview) and gets 404 as for records
// that do not exist; a caller without scopes cannot cancel through the chat; the administrator
// (the test key, with users.admin and orders.admin) reaches everything.
func TestOwnersAndAdmins(t *testing.T) {
	t.Parallel()
	g := startStack(t).gw
	as := func(who string) http.Header { return http.Header{"X-Api-Key": {userKeys[who].key}} }
	body := func(s string) io.Reader {
		if s == "" {
			return nil
		}
		return strings.NewReader(s)
	}
	// Orders placed by the administrator for each user.
	grace := createOrder(t, g, "users/grace-hopper", map[string]int{"sku-aeropress": 1}).GetName()
	ada := createOrder(t, g, "users/ada-lovelace", map[string]int{"sku-aeropress": 1}).GetName()
	stateOf := func(name string) ordersv1.OrderState {
		t.Helper()
		o := &ordersv1.Order{}
		decodeProto(t, mustOK(t, g.do(t, http.MethodGet, "/v1/"+name, "")), o)
		return o.GetState()
	}

	t.Run("REST and composite", func(t *testing.T) {
		for _, tc := range []struct{ method, path, body string }{
			{http.MethodGet, "/v1/users/grace-hopper", ""},
			{http.MethodPatch, "/v1/users/grace-hopper?update_mask=display_name", `{"displayName":"Mallory"}`},
			{http.MethodDelete, "/v1/users/grace-hopper", ""},
			{http.MethodGet, "/v1/" + grace, ""},
			{http.MethodPost, "/v1/" + grace + ":cancel", `{}`},
			{http.MethodGet, "/v1/users/grace-hopper/orders", ""},
			{http.MethodPost, "/v1/users/grace-hopper/orders", `{"items":[{"productId":"sku-aeropress","quantity":1}]}`},
			{http.MethodGet, "/v1/users/grace-hopper:overview", ""},
		} {
			st := expectStatus(t, g.request(t, tc.method, tc.path, body(tc.body), as("ada")), http.StatusNotFound, 5)
			if !strings.HasSuffix(st.GetMessage(), " not found") {
				t.Errorf("%s %s: message %q, want the one for a record that does not exist", tc.method, tc.path, st.GetMessage())
			}
		}
		orders := expectOK(t, g.request(t, http.MethodGet, "/v1/orders?page_size=100", nil, as("ada")), http.StatusOK)
		list, _ := orders["orders"].([]any)
		for _, o := range list {
			if user := path(o.(map[string]any), "user"); user != "users/ada-lovelace" {
				t.Errorf("GET /v1/orders as ada-lovelace lists an order of %v", user)
			}
		}
		if len(list) == 0 {
			t.Error("GET /v1/orders as ada-lovelace lists none of her orders")
		}
		users := expectOK(t, g.request(t, http.MethodGet, "/v1/users", nil, as("ada")), http.StatusOK)
		if users["totalSize"] != float64(1) {
			t.Errorf("GET /v1/users as ada-lovelace: %v, want only her own user", users)
		}
		overview := expectOK(t, g.request(t, http.MethodGet, "/v1/users/ada-lovelace:overview", nil, as("ada")), http.StatusOK)
		if path(overview, "user.email") != "ada@example.org" || overview["degradedParts"] != nil {
			t.Errorf("own overview: %v", overview)
		}
	})

	t.Run("support chat", func(t *testing.T) {
		// Another user's order: the chat ends with NOT_FOUND (close code 4005), whoever asks.
		for _, who := range []string{"ada", "grace"} {
			order := grace
			if who == "grace" {
				order = ada
			}
			c, resp, err := dialChat(t, g, "name="+order, as(who))
			if err != nil {
				t.Fatalf("dial as %s: %v (%v)", who, err, resp)
			}
			sendChat(t, c, "please cancel it")
			expectClose(t, c, 4005)
		}
		// Her own order, without orders.write: support refuses to cancel it, as POST …:cancel does.
		c, resp, err := dialChat(t, g, "name="+grace, as("grace"))
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		sendChat(t, c, "please cancel it")
		for _, want := range []string{"is ORDER_STATE_PENDING", "cannot be cancelled"} {
			if m := readChat(t, c); !strings.Contains(m.GetText(), want) {
				t.Fatalf("support said %q, want %q", m.GetText(), want)
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("close: %v", err)
		}
		for _, name := range []string{grace, ada} {
			if st := stateOf(name); st != ordersv1.OrderState_ORDER_STATE_PENDING {
				t.Errorf("%s is %v after the refused chats, want PENDING", name, st)
			}
		}
	})

	t.Run("administrator", func(t *testing.T) {
		u := decodeUser(t, g.do(t, http.MethodGet, "/v1/users/grace-hopper", ""), http.StatusOK)
		if u.GetDisplayName() != "Grace Hopper" {
			t.Errorf("grace-hopper after the refused calls: %v", u)
		}
		overview := expectOK(t, g.do(t, http.MethodGet, "/v1/users/grace-hopper:overview", ""), http.StatusOK)
		if path(overview, "user.email") != "grace@example.com" || overview["degradedParts"] != nil {
			t.Errorf("overview of grace-hopper: %v", overview)
		}
		mustOK(t, g.do(t, http.MethodPost, "/v1/"+grace+":cancel", `{}`))
		if st := stateOf(grace); st != ordersv1.OrderState_ORDER_STATE_CANCELLED {
			t.Errorf("%s is %v after the administrator's cancel, want CANCELLED", grace, st)
		}
	})
}
