package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Kind is the kind of principal a token stands for.
type Kind string

const (
	KindStaff    Kind = "staff"    // a member library's staff account
	KindOperator Kind = "operator" // the consortium operator
	KindPatron   Kind = "patron"   // a patron in their own account
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	return k == KindStaff || k == KindOperator || k == KindPatron
}

const (
	// Issuer is the "iss" claim of every token.
	Issuer = "patronfed"
	// Audience is the "aud" claim of every token.
	Audience = "patronfed"
	// MaxTTL is the longest lifetime Issue grants and Verify accepts.
	MaxTTL = 24 * time.Hour
	// Leeway is the clock skew Verify tolerates for exp, iat and nbf.
	Leeway = 5 * time.Second
	// MaxTokenLen is the longest token string Verify will parse.
	MaxTokenLen = 4096

	maxSubjectLen = 256
	maxKeyIDLen   = 64
)

var (
	// ErrInvalidToken is returned by Verify for any token that is not valid,
	// whatever the reason.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrExpiredToken is returned by Verify for a token that is valid in
	// every respect except that it has expired.
	ErrExpiredToken = errors.New("auth: token expired")
)

// Claims are the verified contents of a token. Times are UTC with whole
// seconds.
type Claims struct {
	Subject   string // account or patron UUID
	Kind      Kind
	TokenID   string // jti, random
	IssuedAt  time.Time
	ExpiresAt time.Time
	// CredentialsVersion is the subject's credentials version the token
	// was issued for: a password or PIN change makes it stale.
	CredentialsVersion int
}

type jwtClaims struct {
	jwt.RegisteredClaims
	Kind Kind `json:"kind"`
	CV   int  `json:"cv,omitempty"`
}

// Signer issues and verifies tokens. The first key signs; all keys verify.
// It is safe for concurrent use; its formatting methods print key ids only,
// and the private key is not reachable by reflection-based printing.
type Signer struct {
	s *signerState
}

type signerState struct {
	current string
	ids     []string
	signer  crypto.Signer
	pubs    map[string]ed25519.PublicKey
	cache   verified
	parser  *jwt.Parser
}

// edSigner is a crypto.Signer whose private key lives only inside a closure.
type edSigner struct {
	pub  ed25519.PublicKey
	sign func(msg []byte) []byte
}

func (e edSigner) Public() crypto.PublicKey { return e.pub }

func (e edSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != 0 {
		return nil, errors.New("auth: ed25519 signs the message, not a digest")
	}
	return e.sign(msg), nil
}

// ParseSigningKeys parses "kid1:BASE64_ED25519_SEED,kid2:..." (32-byte
// seeds, standard or URL-safe base64, padded or not). The first key signs.
// Key ids are 1-64 characters from [A-Za-z0-9._-]. Errors never echo key
// material.
func ParseSigningKeys(spec string) (*Signer, error) {
	st := &signerState{pubs: map[string]ed25519.PublicKey{}}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		id, enc, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("auth: signing key entry #%d: want kid:BASE64_SEED", i+1)
		}
		id = strings.TrimSpace(id)
		if !validKeyID(id) {
			// The id is not echoed: a misconfigured entry may hold key material.
			return nil, fmt.Errorf("auth: signing key entry #%d: key id must be 1-%d characters from [A-Za-z0-9._-]", i+1, maxKeyIDLen)
		}
		if _, dup := st.pubs[id]; dup {
			return nil, fmt.Errorf("auth: duplicate signing key id %q", id)
		}
		seed, err := decodeBase64(strings.TrimSpace(enc))
		if err != nil {
			return nil, fmt.Errorf("auth: signing key %q: invalid base64", id)
		}
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("auth: signing key %q: seed must be %d bytes, got %d", id, ed25519.SeedSize, len(seed))
		}
		priv := ed25519.NewKeyFromSeed(seed)
		clear(seed)
		pub := priv.Public().(ed25519.PublicKey)
		st.pubs[id] = pub
		st.ids = append(st.ids, id)
		if i == 0 {
			st.current = id
			st.signer = edSigner{pub: pub, sign: func(msg []byte) []byte { return ed25519.Sign(priv, msg) }}
		}
		// Private keys of verify-only entries are not kept.
	}
	st.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithStrictDecoding(),
		// Claims are validated by Verify itself, so that an expired token is
		// reported as expired only when everything else is valid.
		jwt.WithoutClaimsValidation(),
	)
	return &Signer{s: st}, nil
}

// GenerateSigningKeySpec returns a fresh random spec with one key, for dev
// mode. It panics only if the system's randomness fails.
func GenerateSigningKeySpec() string {
	id := make([]byte, 4)
	seed := make([]byte, ed25519.SeedSize)
	mustRand(id)
	mustRand(seed)
	return "k" + hex.EncodeToString(id) + ":" + base64.StdEncoding.EncodeToString(seed)
}

// CurrentKeyID returns the id of the signing key.
func (s *Signer) CurrentKeyID() string { return s.s.current }

// KeyIDs returns the ids of all verification keys, signing key first.
func (s *Signer) KeyIDs() []string { return append([]string(nil), s.s.ids...) }

// Issue signs a token for subject of the given kind, valid from now for ttl
// (at least one second, at most MaxTTL), for credentials version 0. Times
// are truncated to whole seconds, as in the token; the returned Claims
// equal what Verify returns.
func (s *Signer) Issue(kind Kind, subject string, ttl time.Duration, now time.Time) (token string, c Claims, err error) {
	return s.IssueVersion(kind, subject, 0, ttl, now)
}

// IssueVersion is Issue for credentials version cv of the subject.
func (s *Signer) IssueVersion(kind Kind, subject string, cv int, ttl time.Duration, now time.Time) (token string, c Claims, err error) {
	if !kind.Valid() {
		return "", Claims{}, fmt.Errorf("auth: unknown token kind %q", kind)
	}
	if subject == "" || len(subject) > maxSubjectLen {
		return "", Claims{}, errors.New("auth: token subject must be 1-256 bytes")
	}
	if ttl < time.Second || ttl > MaxTTL {
		return "", Claims{}, fmt.Errorf("auth: token ttl must be between 1s and %v", MaxTTL)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", Claims{}, errors.New("auth: cannot read random token id")
	}
	c = Claims{
		Subject:   subject,
		Kind:      kind,
		TokenID:   base64.RawURLEncoding.EncodeToString(jti),
		IssuedAt:  now.UTC().Truncate(time.Second),
		ExpiresAt: now.Add(ttl).UTC().Truncate(time.Second),

		CredentialsVersion: cv,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.TokenID,
		},
		Kind: kind,
		CV:   cv,
	})
	t.Header["kid"] = s.s.current
	token, err = t.SignedString(s.s.signer)
	if err != nil {
		return "", Claims{}, errors.New("auth: cannot sign token")
	}
	return token, c, nil
}

// Verify checks token at time now and returns its claims. It rejects a bad
// signature, an unknown or missing kid, any alg other than EdDSA, a wrong
// issuer or audience, a missing sub, jti, kind, iat or exp, a lifetime over
// MaxTTL, a token issued (or not valid) more than Leeway in the future, and
// an expired token (exp + Leeway <= now). It returns ErrExpiredToken for a
// token whose only fault is expiry and ErrInvalidToken for everything else.
func (s *Signer) Verify(token string, now time.Time) (Claims, error) {
	if len(token) == 0 || len(token) > MaxTokenLen {
		return Claims{}, ErrInvalidToken
	}
	t, key, ok := s.s.cache.get(token)
	if ok {
		return checkTimes(t, now)
	}
	var jc jwtClaims
	_, err := s.s.parser.ParseWithClaims(token, &jc, s.keyFor)
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	if jc.Issuer != Issuer || len(jc.Audience) != 1 || jc.Audience[0] != Audience ||
		jc.Subject == "" || len(jc.Subject) > maxSubjectLen || jc.ID == "" || !jc.Kind.Valid() ||
		jc.IssuedAt == nil || jc.ExpiresAt == nil {
		return Claims{}, ErrInvalidToken
	}
	iat, exp := jc.IssuedAt.UTC(), jc.ExpiresAt.UTC()
	if !exp.After(iat) || exp.Sub(iat) > MaxTTL || iat.After(now.Add(Leeway)) {
		return Claims{}, ErrInvalidToken
	}
	if jc.NotBefore != nil && jc.NotBefore.After(now.Add(Leeway)) {
		return Claims{}, ErrInvalidToken
	}
	if jc.CV < 0 {
		return Claims{}, ErrInvalidToken
	}
	c := Claims{Subject: jc.Subject, Kind: jc.Kind, TokenID: jc.ID, IssuedAt: iat, ExpiresAt: exp, CredentialsVersion: jc.CV}
	var nbf *time.Time
	if jc.NotBefore != nil {
		n := jc.NotBefore.UTC()
		nbf = &n
	}
	s.s.cache.put(key, verifiedToken{claims: c, nbf: nbf})
	if !now.Before(exp.Add(Leeway)) {
		return Claims{}, ErrExpiredToken
	}
	return c, nil
}

func (s *Signer) keyFor(t *jwt.Token) (any, error) {
	if t.Method != jwt.SigningMethodEdDSA {
		return nil, ErrInvalidToken
	}
	kid, _ := t.Header["kid"].(string)
	pub, ok := s.s.pubs[kid]
	if !ok {
		return nil, ErrInvalidToken
	}
	return pub, nil
}

// String describes the signer (key ids only) without key material.
func (s Signer) String() string {
	if s.s == nil {
		return "auth.Signer{}"
	}
	return fmt.Sprintf("auth.Signer{current: %s, keys: %v}", s.s.current, s.s.ids)
}

// GoString describes the signer without key material.
func (s Signer) GoString() string { return s.String() }

// Format describes the signer without key material, whatever the verb.
func (s Signer) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func decodeBase64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("invalid base64")
}

func mustRand(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
}
