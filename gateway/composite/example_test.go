package composite_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/archway-gateway/archway/gateway/composite"
)

// A new composite in a few lines: declare each sub-call as a required or optional part with its
// result type, then Wait. Real parts call backend clients with the ctx they are given.
func ExampleFanOut() {
	ctx := context.Background()
	f := composite.NewFanOut(ctx, 2*time.Second)
	profile := composite.Required(f, "profile", func(context.Context) (string, error) {
		return "Ada Lovelace", nil
	})
	points := composite.Optional(f, "loyalty_points", func(context.Context) (int, error) {
		return 0, errors.New("loyalty backend unavailable")
	})
	// A dependent part waits for another one's result.
	greeting := composite.Optional(f, "greeting", func(ctx context.Context) (string, error) {
		name, err := profile.Await(ctx)
		return "Hello, " + name, err
	})
	degraded, err := f.Wait()
	if err != nil {
		fmt.Println("request fails:", err) // a required part failed
		return
	}
	fmt.Println(profile.Value(), points.Value(), greeting.Value())
	fmt.Println("degraded:", degraded)
	// Output:
	// Ada Lovelace 0 Hello, Ada Lovelace
	// degraded: [loyalty_points]
}
