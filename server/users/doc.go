// Package users implements storefront.users.v1.UserService over a thread-safe in-memory store
// seeded with twelve deterministic users ("users/ada-lovelace", "users/grace-hopper", ...).
//
// Every method authorizes its call from the verified identity (package server/internal/authz): a
// caller sees and changes only their own user, the one named "users/{subject}", unless they hold
// AdminScope; any other user is NOT_FOUND, as one that does not exist.
//
// Every request type but UpdateUserRequest is validated by the server's interceptor chain before
// it reaches Service. UpdateUser validates the user after applying its update mask instead,
// because the unmasked fields of a partial update are empty and would fail the User rules.
package users
