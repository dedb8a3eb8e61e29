// Package page implements the storefront's list pagination: page sizes, opaque page tokens, and
// cursor-based slicing of a sorted result.
//
// A list orders its results by a string key per item, ascending (DescTime and AscInt build keys
// whose string order matches a time or number order). A page token records the key of the last
// item returned, so a page stays correct when items are added or removed between calls, and a
// digest of the request's filters, so a token is only accepted by the same list with the same
// filters. Tokens are integrity-checked, not encrypted or signed with a secret: they hold nothing
// a client could not list anyway, and a forged one can only move the cursor.
package page
