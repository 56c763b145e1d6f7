package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

const (
	// KeySize is the size in bytes of an encryption key (AES-256).
	KeySize = 32
	// MinIndexKeySize is the minimum size in bytes of the blind-index key.
	MinIndexKeySize = 32
	// NonceSize is the size of the random nonce prefixed to each ciphertext.
	NonceSize = 12
	// Overhead is the number of bytes a ciphertext is longer than its
	// plaintext (nonce + GCM tag).
	Overhead = NonceSize + 16
	// BlindIndexSize is the length of a blind index value.
	BlindIndexSize = sha256.Size

	maxKeyIDLen = 64
)

var (
	// ErrDecrypt is returned by Open when the ciphertext is malformed, was
	// tampered with, was sealed under another key, or the AAD differs.
	ErrDecrypt = errors.New("pii: decryption failed")
	// ErrUnknownKey is returned by Open when the key id is not in the keyring.
	ErrUnknownKey = errors.New("pii: unknown key id")
	// ErrMissingAAD is returned by Seal and Open when no AAD is given.
	ErrMissingAAD = errors.New("pii: AAD is required to bind the ciphertext to its row")
)

// Key is one encryption key with its id. The id is stored beside every
// ciphertext the key seals. Key's formatting methods never print Secret.
type Key struct {
	ID     string
	Secret []byte
}

// String returns the key id only.
func (k Key) String() string { return "pii.Key{ID: " + k.ID + ", Secret: [redacted]}" }

// GoString returns the key id only.
func (k Key) GoString() string { return k.String() }

// Format prints the key id only, whatever the verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// Keyring holds the encryption keys and the blind-index key. It is safe for
// concurrent use. Its formatting methods never print key material, and the
// key material sits behind a pointer so that reflection-based printing of a
// struct embedding a Keyring shows only an address.
type Keyring struct {
	s *keyringState
}

type keyringState struct {
	current string
	ids     []string // in config order, current first
	aeads   map[string]cipher.AEAD
	// newMAC returns a fresh HMAC-SHA256 keyed with the index key. The key
	// lives only inside the closure, out of reach of reflection-based printing.
	newMAC func() hash.Hash
}

// NewKeyring builds a keyring from keys (the first key is current and seals;
// all open) and the blind-index key. Secrets are copied.
func NewKeyring(keys []Key, indexKey []byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("pii: keyring needs at least one encryption key")
	}
	if len(indexKey) < MinIndexKeySize {
		return nil, fmt.Errorf("pii: index key must be at least %d bytes, got %d", MinIndexKeySize, len(indexKey))
	}
	ik := append([]byte(nil), indexKey...)
	k := &keyringState{
		current: keys[0].ID,
		aeads:   make(map[string]cipher.AEAD, len(keys)),
		newMAC:  func() hash.Hash { return hmac.New(sha256.New, ik) },
	}
	for i, key := range keys {
		if err := validKeyID(key.ID); err != nil {
			return nil, fmt.Errorf("pii: encryption key #%d: %w", i+1, err)
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("pii: duplicate encryption key id %q", key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("pii: encryption key %q must be %d bytes, got %d", key.ID, KeySize, len(key.Secret))
		}
		if subtle.ConstantTimeCompare(key.Secret, indexKey) == 1 {
			return nil, fmt.Errorf("pii: encryption key %q must differ from the index key", key.ID)
		}
		block, err := aes.NewCipher(append([]byte(nil), key.Secret...))
		if err != nil {
			return nil, fmt.Errorf("pii: encryption key %q: invalid AES key", key.ID)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("pii: encryption key %q: cannot create GCM", key.ID)
		}
		k.aeads[key.ID] = aead
		k.ids = append(k.ids, key.ID)
	}
	return &Keyring{s: k}, nil
}

// ParseKeyring parses keys from configuration strings.
//
// encKeys is a comma-separated list of "kid:BASE64KEY" entries with 32-byte
// keys; the FIRST entry is current and used for sealing, all entries can
// open. indexKey is a base64 key of at least 32 bytes. Base64 may be standard
// or URL-safe, with or without padding. Whitespace around entries is
// ignored. Errors never echo key material.
func ParseKeyring(encKeys string, indexKey string) (*Keyring, error) {
	var keys []Key
	for i, entry := range strings.Split(encKeys, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("pii: encryption key entry #%d is empty", i+1)
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("pii: encryption key entry #%d: want kid:BASE64KEY", i+1)
		}
		id = strings.TrimSpace(id)
		secret, err := decodeBase64(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("pii: encryption key entry #%d: invalid base64", i+1)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	ik, err := decodeBase64(strings.TrimSpace(indexKey))
	if err != nil {
		return nil, errors.New("pii: index key: invalid base64")
	}
	return NewKeyring(keys, ik)
}

// GenerateKeyringSpec returns fresh random configuration strings for
// [ParseKeyring]: one encryption key with a random id, and an index key.
// Intended for dev mode; it panics only if the system's randomness fails.
func GenerateKeyringSpec() (encKeys, indexKey string) {
	id := make([]byte, 4)
	secret := make([]byte, KeySize)
	ik := make([]byte, MinIndexKeySize)
	mustRand(id)
	mustRand(secret)
	mustRand(ik)
	return "k" + hex.EncodeToString(id) + ":" + base64.StdEncoding.EncodeToString(secret),
		base64.StdEncoding.EncodeToString(ik)
}

// CurrentKeyID returns the id of the key that Seal uses. Rows whose stored key
// id differs are candidates for re-sealing during rotation.
func (k *Keyring) CurrentKeyID() string { return k.s.current }

// KeyIDs returns the ids of all keys in the keyring, current first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.s.ids...) }

// Seal encrypts plaintext with the current key. The returned ciphertext is
// the random 12-byte nonce followed by the GCM output; keyID must be stored
// beside it. aad must identify the row and field (see [AAD]) and must not be
// empty.
func (k *Keyring) Seal(plaintext []byte, aad []byte) (ciphertext []byte, keyID string, err error) {
	if len(aad) == 0 {
		return nil, "", ErrMissingAAD
	}
	aead := k.s.aeads[k.s.current]
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, "", errors.New("pii: cannot read random nonce")
	}
	out = aead.Seal(out, out[:NonceSize], plaintext, aad)
	return out, k.s.current, nil
}

// Open decrypts a ciphertext produced by Seal under the key keyID with the
// same aad. It returns ErrUnknownKey if keyID is not in the keyring and
// ErrDecrypt for any other failure.
func (k *Keyring) Open(ciphertext []byte, keyID string, aad []byte) ([]byte, error) {
	if len(aad) == 0 {
		return nil, ErrMissingAAD
	}
	aead, ok := k.s.aeads[keyID]
	if !ok {
		return nil, ErrUnknownKey
	}
	if len(ciphertext) < NonceSize+aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, ciphertext[:NonceSize], ciphertext[NonceSize:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// BlindIndex returns HMAC-SHA256(indexKey, kind || 0x00 || Normalize(kind, value)),
// 32 bytes. It is deterministic, so equal (normalised) values of the same
// kind give equal indexes; different kinds or index keys give unrelated
// indexes. kind must not contain a NUL byte.
func (k *Keyring) BlindIndex(kind, value string) []byte {
	m := k.s.newMAC()
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(Normalize(kind, value)))
	return m.Sum(nil)
}

// AAD builds unambiguous additional authenticated data from parts, e.g.
// AAD(patronID, KindSSN). Each part is length-prefixed, so ("ab", "c") and
// ("a", "bc") give different results.
func AAD(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = binary.AppendUvarint(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}

// String describes the keyring (key ids only) without key material.
func (k Keyring) String() string {
	if k.s == nil {
		return "pii.Keyring{}"
	}
	return fmt.Sprintf("pii.Keyring{current: %s, keys: %v}", k.s.current, k.s.ids)
}

// GoString describes the keyring without key material.
func (k Keyring) GoString() string { return k.String() }

// Format describes the keyring without key material, whatever the verb.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

func validKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("key id must be 1-%d characters", maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			// The id is not echoed: a misconfigured entry may hold key material.
			return errors.New("key id may only contain [A-Za-z0-9._-]")
		}
	}
	return nil
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
		panic("pii: crypto/rand failed: " + err.Error())
	}
}
