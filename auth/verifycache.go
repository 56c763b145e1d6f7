package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verified remembers tokens whose signature and time-independent claims
// have been checked, so that the many requests of one token pay the
// Ed25519 verification once (it was about a tenth of the server's CPU per
// request in the load runs, docs/performance.md). The time checks (iat,
// nbf, exp against now) are still made on every call. Entries are keyed by
// the token's SHA-256 and the map is cleared when it reaches
// maxVerified; the keys that verify are fixed for the Signer's lifetime.
type verified struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	claims Claims
	nbf    *time.Time
}

const maxVerified = 8192

func (v *verified) get(token string) (verifiedToken, [sha256.Size]byte, bool) {
	k := sha256.Sum256([]byte(token))
	v.mu.RLock()
	t, ok := v.m[k]
	v.mu.RUnlock()
	return t, k, ok
}

func (v *verified) put(k [sha256.Size]byte, t verifiedToken) {
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = make(map[[sha256.Size]byte]verifiedToken)
	}
	v.m[k] = t
	v.mu.Unlock()
}

// checkTimes is Verify's time checks of an already verified token.
func checkTimes(t verifiedToken, now time.Time) (Claims, error) {
	c := t.claims
	if c.IssuedAt.After(now.Add(Leeway)) || t.nbf != nil && t.nbf.After(now.Add(Leeway)) {
		return Claims{}, ErrInvalidToken
	}
	if !now.Before(c.ExpiresAt.Add(Leeway)) {
		return Claims{}, ErrExpiredToken
	}
	return c, nil
}
