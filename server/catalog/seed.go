package catalog

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
)

// seedTime is the fixed moment the seed data is dated from.
var seedTime = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// seedProduct is one seeded product and its stock level.
type seedProduct struct {
	product *catalogv1.Product
	stock   *catalogv1.StockLevel
}

// seed returns the deterministic products that a new Service holds.
func seed() []seedProduct {
	const (
		coffee      = catalogv1.Category_CATEGORY_COFFEE
		equipment   = catalogv1.Category_CATEGORY_EQUIPMENT
		accessories = catalogv1.Category_CATEGORY_ACCESSORIES
	)
	type row struct {
		id, title, description string
		category               catalogv1.Category
		priceMinor             int64
		tags                   []string
		stock                  int32
		daysAgo                int
	}
	rows := []row{
		{"sku-espresso-250", "Espresso Blend, 250 g", "Chocolatey house blend of Brazilian and Indian beans, roasted for espresso.", coffee, 1290, []string{"blend", "espresso", "bestseller"}, 140, 120},
		{"sku-espresso-1000", "Espresso Blend, 1 kg", "The house espresso blend in a café-size bag.", coffee, 4490, []string{"blend", "espresso"}, 35, 120},
		{"sku-ethiopia-yirgacheffe-250", "Ethiopia Yirgacheffe, 250 g", "Washed single origin with jasmine and bergamot notes; light roast.", coffee, 1590, []string{"single-origin", "pour-over", "organic"}, 60, 95},
		{"sku-colombia-huila-250", "Colombia Huila, 250 g", "Caramel sweetness and red apple; medium roast.", coffee, 1390, []string{"single-origin", "pour-over"}, 75, 90},
		{"sku-kenya-aa-250", "Kenya AA, 250 g", "Blackcurrant and grapefruit; a bright, juicy cup.", coffee, 1690, []string{"single-origin", "pour-over"}, 0, 60},
		{"sku-guatemala-antigua-250", "Guatemala Antigua, 250 g", "Cocoa and toasted almond from volcanic soil.", coffee, 1490, []string{"single-origin", "espresso"}, 48, 45},
		{"sku-brazil-cerrado-1000", "Brazil Cerrado, 1 kg", "Nutty, low-acid everyday coffee.", coffee, 3290, []string{"single-origin", "espresso"}, 22, 40},
		{"sku-decaf-swiss-water-250", "Decaf Swiss Water, 250 g", "Chemical-free decaffeinated Colombian beans.", coffee, 1350, []string{"decaf", "organic"}, 30, 20},
		{"sku-grinder-burr-pro", "Pro Burr Grinder", "Flat-burr electric grinder with 40 settings, espresso to cold brew.", equipment, 24900, []string{"grinder", "espresso", "bestseller"}, 12, 110},
		{"sku-grinder-hand", "Hand Grinder", "Conical steel burrs in a travel-size body.", equipment, 8900, []string{"grinder", "pour-over", "gift"}, 25, 100},
		{"sku-kettle-gooseneck", "Gooseneck Kettle, 1 l", "Electric kettle with temperature control and a pouring spout.", equipment, 6900, []string{"pour-over", "bestseller"}, 18, 85},
		{"sku-v60-dripper", "V60 Dripper", "Ceramic cone dripper, size 02.", equipment, 2490, []string{"pour-over"}, 54, 80},
		{"sku-french-press-1l", "French Press, 1 l", "Double-walled steel press that keeps coffee hot.", equipment, 3490, []string{"immersion", "gift"}, 16, 70},
		{"sku-aeropress", "AeroPress", "Portable immersion brewer for one cup.", equipment, 3999, []string{"immersion", "gift"}, 40, 65},
		{"sku-espresso-machine-home", "Home Espresso Machine", "Single-boiler machine with PID and a commercial 58 mm group.", equipment, 59900, []string{"espresso"}, 0, 30},
		{"sku-scale-timer", "Coffee Scale with Timer", "0.1 g resolution, built-in shot timer.", equipment, 4590, []string{"pour-over", "espresso"}, 27, 25},
		{"sku-mug-ceramic-350", "Ceramic Mug, 350 ml", "Hand-glazed stoneware mug.", accessories, 1490, []string{"gift"}, 90, 115},
		{"sku-cup-cappuccino-set", "Cappuccino Cups, set of 2", "Porcelain cups with saucers, 180 ml.", accessories, 2990, []string{"espresso", "gift"}, 20, 55},
		{"sku-filter-papers-100", "V60 Filter Papers, 100", "Bleached paper filters for size 02 drippers.", accessories, 690, []string{"pour-over"}, 300, 80},
		{"sku-milk-jug-600", "Milk Jug, 600 ml", "Steel pitcher with a latte-art spout.", accessories, 1990, []string{"espresso"}, 0, 10},
	}
	products := make([]seedProduct, 0, len(rows))
	for _, r := range rows {
		created := seedTime.AddDate(0, 0, -r.daysAgo)
		products = append(products, seedProduct{
			product: &catalogv1.Product{
				Id:          r.id,
				Title:       r.title,
				Description: r.description,
				Category:    r.category,
				Price:       &catalogv1.Money{CurrencyCode: "EUR", AmountMinor: r.priceMinor},
				Tags:        r.tags,
				CreateTime:  timestamppb.New(created),
			},
			stock: &catalogv1.StockLevel{
				ProductId:  r.id,
				Available:  r.stock,
				UpdateTime: timestamppb.New(seedTime.AddDate(0, 0, -1)),
			},
		})
	}
	return products
}

// extraSeed returns n generated products for WithExtraProducts, each about as large as a
// seed product.
func extraSeed(n int) []seedProduct {
	products := make([]seedProduct, 0, n)
	for i := range n {
		id := fmt.Sprintf("sku-bench-%04d", i+1)
		products = append(products, seedProduct{
			product: &catalogv1.Product{
				Id:          id,
				Title:       fmt.Sprintf("Bench Item %d", i+1),
				Description: "A generated product for load tests, described at about the length of a real one.",
				Category:    catalogv1.Category_CATEGORY_EQUIPMENT,
				Price:       &catalogv1.Money{CurrencyCode: "EUR", AmountMinor: int64(1000 + i)},
				Tags:        []string{"bench", "generated"},
				CreateTime:  timestamppb.New(seedTime.AddDate(0, 0, -(i%365)-1)),
			},
			stock: &catalogv1.StockLevel{
				ProductId:  id,
				Available:  100,
				UpdateTime: timestamppb.New(seedTime.AddDate(0, 0, -1)),
			},
		})
	}
	return products
}
