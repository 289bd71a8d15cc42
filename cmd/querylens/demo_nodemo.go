//go:build nodemo

package main

import (
	"context"
	"errors"
	"io"
)

// runDemo stands in for `querylens demo` in builds without it: the demo's
// embedded server is a large dependency that a proxy-only binary leaves
// out.
func runDemo(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("this querylens was built without the demo (build tag nodemo); " +
		"run `go run ./cmd/querylens demo` from the source tree, or build without -tags nodemo")
}
