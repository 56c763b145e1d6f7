package config

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector's target that serve and dev
// run with unless GOGC is set: a new collection when the heap has grown by
// 400 % of what the last one left live, against Go's 100 %. patronfed's
// live heap is small (10-20 MB under load) and every request allocates,
// so with Go's default the collector runs many times a second; each run
// slows the requests it overlaps, policy decisions among them (their p99
// in BenchmarkEmbedded: 133-245 µs at 100, 62-95 µs at 400). The price is
// a heap up to five times the live data, some tens of MB
// (docs/performance.md, optimisation 21). GOMEMLIMIT bounds it where
// memory is tight.
const DefaultGCPercent = 400

// ApplyGCPercent sets DefaultGCPercent unless the environment sets GOGC
// (which the Go runtime has already applied), and returns the percentage
// in effect (-1: collection off).
func ApplyGCPercent() int {
	if _, set := os.LookupEnv("GOGC"); set {
		p := debug.SetGCPercent(100) // read the runtime's value back ...
		debug.SetGCPercent(p)        // ... and keep it
		return p
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}
