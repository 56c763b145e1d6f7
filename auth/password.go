package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. Memory is in KiB.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // parallelism (lanes)
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes of derived hash
}

// DefaultParams are the parameters for new hashes.
//
// RFC 9106 §4 gives as its second recommended option argon2id with
// t=3, p=4, m=64 MiB, a 128-bit salt and a 256-bit tag. We keep the memory
// (64 MiB), salt and tag sizes and scale time and lanes down to t=1, p=2 so
// that one verification stays well under 100 ms on a small server. This is
// above the OWASP minimums (m=46 MiB,t=1,p=1 or m=19 MiB,t=2,p=1). Raising
// them later is safe: old hashes keep verifying and VerifySecret reports
// needsRehash.
var DefaultParams = Params{Memory: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}

// TestParams are tiny parameters for fast tests of other packages. Never use
// them outside tests. Hashes made with them report needsRehash.
var TestParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on accepted parameters, so that a malformed or malicious stored hash
// cannot make verification allocate gigabytes or loop for minutes.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 64
	maxThreads = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64

	// MaxSecretLen is the longest secret HashSecret accepts, in bytes.
	MaxSecretLen = 1024
)

var (
	// ErrInvalidHash is returned by VerifySecret for an encoded hash that is
	// not a well-formed argon2id PHC string with acceptable parameters.
	ErrInvalidHash = errors.New("auth: invalid password hash")
	// ErrInvalidParams is returned by HashSecret for out-of-range parameters.
	ErrInvalidParams = errors.New("auth: invalid argon2 parameters")
	// ErrInvalidSecret is returned by HashSecret for an empty or overlong secret.
	ErrInvalidSecret = errors.New("auth: secret must be 1-1024 bytes")
)

func (p Params) valid() bool {
	return p.Threads >= 1 && p.Threads <= maxThreads &&
		p.Memory >= 8*uint32(p.Threads) && p.Memory <= maxMemory &&
		p.Time >= 1 && p.Time <= maxTime &&
		p.SaltLen >= minSaltLen && p.SaltLen <= maxSaltLen &&
		p.KeyLen >= minKeyLen && p.KeyLen <= maxKeyLen
}

// HashSecret hashes a password or PIN with argon2id and a random salt and
// returns it in PHC string format.
func HashSecret(secret string, p Params) (string, error) {
	if len(secret) == 0 || len(secret) > MaxSecretLen {
		return "", ErrInvalidSecret
	}
	if !p.valid() {
		return "", ErrInvalidParams
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", errors.New("auth: cannot read random salt")
	}
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodePHC(p, salt, key), nil
}

// VerifySecret reports whether secret matches the PHC-encoded argon2id hash.
// The comparison is constant-time. needsRehash is true only when ok is true
// and the hash's parameters differ from [DefaultParams]; the caller should
// then store a fresh HashSecret(secret, DefaultParams). A malformed hash gives
// ErrInvalidHash (which never contains the hash or the secret).
func VerifySecret(secret, encoded string) (ok bool, needsRehash bool, err error) {
	p, salt, want, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != DefaultParams, nil
}

// DummyVerify does the work of one VerifySecret against a hash made with
// DefaultParams and discards the result. Call it when the login name does
// not exist, so that unknown and known names take the same time.
func DummyVerify() {
	p := DefaultParams
	if !p.valid() {
		p = Params{Memory: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}
	}
	dummy := encodePHC(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen))
	_, _, _ = VerifySecret("patronfed-dummy-secret", dummy)
}

var b64 = base64.RawStdEncoding.Strict()

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decodePHC(encoded string) (Params, []byte, []byte, error) {
	var p Params
	bad := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrInvalidHash, why)
	}
	if len(encoded) > 512 {
		return bad("too long")
	}
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("want $argon2id$v=19$m=..,t=..,p=..$salt$hash")
	}
	if f[1] != "argon2id" {
		return bad("algorithm is not argon2id")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return bad("want m=..,t=..,p=..")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return bad("want m=..,t=..,p=..")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("bad " + name)
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return bad("bad p")
	}
	salt, err := b64.DecodeString(f[4])
	if err != nil {
		return bad("bad salt encoding")
	}
	key, err := b64.DecodeString(f[5])
	if err != nil {
		return bad("bad hash encoding")
	}
	p = Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if !p.valid() {
		return bad("parameters out of range")
	}
	return p, salt, key, nil
}
