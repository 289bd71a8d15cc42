// Command querylens is a transparent MySQL/MariaDB proxy that turns the
// traffic it relays into per-statement statistics.
//
//	querylens demo                  a sample app on an embedded server, no database needed
//	querylens [run] --listen 127.0.0.1:6033 --upstream 127.0.0.1:3306 --http 127.0.0.1:9104
//	querylens report --from http://127.0.0.1:9104
//	querylens analyze capture.pcap
//	querylens version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "querylens:", err)
		os.Exit(exitCode(err))
	}
}
