package config_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/archway-gateway/archway/gateway/config"
)

func ExampleParse() {
	data := []byte(`
log:
  format: json
backends:
  - name: users
    address: "127.0.0.1:9101"
    services: [storefront.users.v1.UserService]
`)
	// The environment overrides the file; Load uses os.Environ().
	environ := []string{"ARCHWAY_BACKENDS_USERS_ADDRESS=dns:///users.internal:9090"}

	c, err := config.Parse(data, environ)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Listen.Address, c.Log.Format, c.Log.Level)
	for _, b := range c.Backends {
		fmt.Println(b.Name, b.Address, b.Services, b.MaxReconnectBackoff)
	}

	_, err = config.Parse([]byte("api:\n  unknown_fields: drop\n"), nil)
	fmt.Println(err)
	// Output:
	// :8080 json info
	// users dns:///users.internal:9090 [storefront.users.v1.UserService] 5s
	// config.Parse: api.unknown_fields: must be "reject" or "ignore", got "drop"
}

func ExampleLoad() {
	dir, err := os.MkdirTemp("", "archway")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "archway.yaml")
	yaml := "backends:\n  - {name: users, address: \"127.0.0.1:9101\", services: [storefront.users.v1.UserService]}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		log.Fatal(err)
	}

	cfg, err := config.Load(path) // defaults, file, os.Environ(), validation
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Listen.Address, cfg.Backends[0].Name)
	// Output: :8080 users
}
