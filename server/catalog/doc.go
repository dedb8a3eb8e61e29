// Package catalog implements storefront.catalog.v1.CatalogService over a thread-safe in-memory
// store seeded with twenty deterministic products ("sku-espresso-250", "sku-grinder-burr-pro",
// "sku-mug-ceramic-350", ...) in the coffee, equipment and accessories categories, priced in EUR,
// three of them out of stock.
//
// AdjustStock validates its reason but does not keep it: the demo has no stock history.
package catalog
