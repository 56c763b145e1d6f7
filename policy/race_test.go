//go:build race

package policy

// raceEnabled: the race detector slows evaluation down about tenfold, so the
// exhaustive tests check a sample (as with -short).
const raceEnabled = true
