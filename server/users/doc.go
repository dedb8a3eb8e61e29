// Package users implements storefront.users.v1.UserService over a thread-safe in-memory store
// seeded with twelve deterministic users ("users/ada-lovelace", "users/grace-hopper", ...).
//
// Every request type but UpdateUserRequest is validated by the server's interceptor chain before
// it reaches Service. UpdateUser validates the user after applying its update mask instead,
// because the unmasked fields of a partial update are empty and would fail the User rules.
package users
