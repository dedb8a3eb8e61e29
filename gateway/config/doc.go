// Package config defines archway.yaml: the gateway's configuration schema,
// its defaults, environment overrides and validation.
//
// A configuration is built in three layers, each overriding the one before:
//
//  1. the defaults returned by [Default];
//  2. the YAML file, decoded strictly: an unknown key is an error that names
//     the key and its line;
//  3. ARCHWAY_* environment variables, one per scalar field, named after the
//     field's YAML path (listen.address is ARCHWAY_LISTEN_ADDRESS; the address
//     of the backend named "users" is ARCHWAY_BACKENDS_USERS_ADDRESS).
//
// The result is then validated as a whole by [Config.Validate], which reports
// every problem at once, each naming the field's path (and the environment
// variable, when the value came from one). [Load] and [Parse] run all three
// layers and the validation; a *Config they return is ready to use.
//
// Every field's doc comment states its default; docs/configuration.md is the
// reference derived from them, and a test keeps the two in step.
//
// The package is a leaf: it imports nothing else of Archway's.
package config
