//go:build pprof

package main

import (
	"net"
	"net/http"
	_ "net/http/pprof" // the profiling endpoints, in builds tagged pprof only
	"os"
)

// With -tags pprof (bench/loadrun -pprof), PATRONFED_PPROF_ADDR serves
// net/http/pprof for profiling load runs. Release builds do not contain it.
func init() {
	addr := os.Getenv("PATRONFED_PPROF_ADDR")
	if addr == "" {
		return
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return
	}
	go func() { _ = http.Serve(lis, nil) }()
}
