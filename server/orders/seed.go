package orders

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

// seedTime is the fixed moment the seed data is dated from: every seeded order was placed
// before it.
var seedTime = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// firstSeedOrder is the number of the first seeded order, "orders/ord-1001".
const firstSeedOrder = 1001

// seedPrices are the unit prices, in euro cents, of the seeded catalog products that the seed
// orders contain; they match the catalog's seed.
var seedPrices = map[string]int64{
	"sku-espresso-250":             1290,
	"sku-espresso-1000":            4490,
	"sku-ethiopia-yirgacheffe-250": 1590,
	"sku-colombia-huila-250":       1390,
	"sku-kenya-aa-250":             1690,
	"sku-guatemala-antigua-250":    1490,
	"sku-brazil-cerrado-1000":      3290,
	"sku-decaf-swiss-water-250":    1350,
	"sku-grinder-burr-pro":         24900,
	"sku-grinder-hand":             8900,
	"sku-kettle-gooseneck":         6900,
	"sku-v60-dripper":              2490,
	"sku-french-press-1l":          3490,
	"sku-aeropress":                3999,
	"sku-espresso-machine-home":    59900,
	"sku-scale-timer":              4590,
	"sku-mug-ceramic-350":          1490,
	"sku-cup-cappuccino-set":       2990,
	"sku-filter-papers-100":        690,
	"sku-milk-jug-600":             1990,
}

// seed returns the deterministic orders that a new Service holds, "orders/ord-1001" to
// "orders/ord-1025", oldest first.
func seed() []*ordersv1.Order {
	const (
		pending   = ordersv1.OrderState_ORDER_STATE_PENDING
		paid      = ordersv1.OrderState_ORDER_STATE_PAID
		shipped   = ordersv1.OrderState_ORDER_STATE_SHIPPED
		delivered = ordersv1.OrderState_ORDER_STATE_DELIVERED
		cancelled = ordersv1.OrderState_ORDER_STATE_CANCELLED
	)
	type item struct {
		sku string
		qty int32
	}
	type row struct {
		user     string
		state    ordersv1.OrderState
		hoursAgo int
		items    []item
	}
	rows := []row{
		{"ada-lovelace", delivered, 41 * 24, []item{{"sku-espresso-250", 2}, {"sku-grinder-burr-pro", 1}}},
		{"alan-turing", delivered, 39*24 + 5, []item{{"sku-ethiopia-yirgacheffe-250", 1}, {"sku-v60-dripper", 1}, {"sku-filter-papers-100", 2}}},
		{"grace-hopper", delivered, 37 * 24, []item{{"sku-aeropress", 1}, {"sku-colombia-huila-250", 2}}},
		{"katherine-johnson", cancelled, 35*24 + 7, []item{{"sku-espresso-machine-home", 1}}},
		{"linus-torvalds", delivered, 33 * 24, []item{{"sku-brazil-cerrado-1000", 1}}},
		{"margaret-hamilton", delivered, 31*24 + 3, []item{{"sku-kettle-gooseneck", 1}, {"sku-scale-timer", 1}, {"sku-v60-dripper", 1}, {"sku-filter-papers-100", 1}}},
		{"ada-lovelace", delivered, 29 * 24, []item{{"sku-mug-ceramic-350", 4}}},
		{"barbara-liskov", cancelled, 27*24 + 9, []item{{"sku-french-press-1l", 1}, {"sku-decaf-swiss-water-250", 1}}},
		{"hedy-lamarr", delivered, 25 * 24, []item{{"sku-cup-cappuccino-set", 2}, {"sku-espresso-1000", 1}}},
		{"konrad-zuse", delivered, 23*24 + 2, []item{{"sku-grinder-hand", 1}, {"sku-kenya-aa-250", 2}}},
		{"grace-hopper", shipped, 20 * 24, []item{{"sku-guatemala-antigua-250", 3}}},
		{"marie-curie", delivered, 18*24 + 6, []item{{"sku-milk-jug-600", 1}, {"sku-espresso-250", 1}}},
		{"alan-turing", shipped, 16 * 24, []item{{"sku-scale-timer", 1}}},
		{"ada-lovelace", shipped, 14*24 + 4, []item{{"sku-ethiopia-yirgacheffe-250", 2}, {"sku-kenya-aa-250", 1}, {"sku-colombia-huila-250", 1}}},
		{"katherine-johnson", paid, 12 * 24, []item{{"sku-aeropress", 1}, {"sku-filter-papers-100", 1}}},
		{"emmy-noether", cancelled, 11*24 + 8, []item{{"sku-espresso-1000", 2}}},
		{"margaret-hamilton", paid, 9 * 24, []item{{"sku-grinder-burr-pro", 1}, {"sku-espresso-250", 3}, {"sku-cup-cappuccino-set", 1}}},
		{"linus-torvalds", shipped, 8*24 + 1, []item{{"sku-french-press-1l", 1}, {"sku-brazil-cerrado-1000", 1}}},
		{"hedy-lamarr", paid, 6 * 24, []item{{"sku-decaf-swiss-water-250", 2}}},
		{"barbara-liskov", pending, 5*24 + 3, []item{{"sku-kettle-gooseneck", 1}, {"sku-v60-dripper", 1}}},
		{"konrad-zuse", pending, 4 * 24, []item{{"sku-espresso-250", 1}, {"sku-mug-ceramic-350", 2}}},
		{"grace-hopper", paid, 3*24 + 6, []item{{"sku-grinder-hand", 1}}},
		{"marie-curie", pending, 2 * 24, []item{{"sku-guatemala-antigua-250", 1}, {"sku-colombia-huila-250", 1}, {"sku-ethiopia-yirgacheffe-250", 1}, {"sku-filter-papers-100", 1}}},
		{"ada-lovelace", pending, 20, []item{{"sku-aeropress", 1}}},
		{"alan-turing", pending, 6, []item{{"sku-espresso-1000", 1}, {"sku-milk-jug-600", 1}}},
	}
	orders := make([]*ordersv1.Order, 0, len(rows))
	for i, r := range rows {
		created := seedTime.Add(-time.Duration(r.hoursAgo) * time.Hour)
		// Each state change took a fifth of the order's age, so every time lies before seedTime.
		step := time.Duration(r.hoursAgo) * time.Hour / 5
		updated := created.Add(time.Duration(r.state-pending) * step)
		o := &ordersv1.Order{
			Name:         fmt.Sprintf("orders/ord-%d", firstSeedOrder+i),
			User:         "users/" + r.user,
			CurrencyCode: "EUR",
			State:        r.state,
			CreateTime:   timestamppb.New(created),
		}
		if r.state == cancelled {
			o.CancelReason = "customer changed their mind"
			updated = created.Add(step / 2)
		}
		o.UpdateTime = timestamppb.New(updated)
		for _, it := range r.items {
			price := seedPrices[it.sku]
			o.Items = append(o.Items, &ordersv1.LineItem{ProductId: it.sku, Quantity: it.qty, UnitPriceMinor: price})
			o.TotalMinor += price * int64(it.qty)
		}
		orders = append(orders, o)
	}
	return orders
}
