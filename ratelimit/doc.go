// Package ratelimit is a per-key token bucket in memory, for endpoints
// that anyone may call (self-registration): each key (a client address)
// gets Burst requests at once and one more every Per/Burst, counted on an
// injectable clock. It is per replica by design: a few more requests
// across replicas do no harm, and it needs no shared state.
package ratelimit
