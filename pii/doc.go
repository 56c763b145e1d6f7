// Package pii protects the most sensitive patron data held by patronfed:
// national identifiers (personal identity number, coordination number,
// asylum-seeker LMA number, social security number) and the number of the
// patron's identity document.
//
// The privacy rules (docs/privacy-rules.md §1) require that these values are
// encrypted at rest, never appear in logs, and are found by exact match only.
// This package provides the three building blocks for that:
//
//   - [Keyring.Seal] / [Keyring.Open]: AES-256-GCM with a random 96-bit
//     nonce prefixed to the ciphertext. Every ciphertext is stored together
//     with the id of the key that sealed it, so keys can be rotated: the
//     first key of the keyring seals, every listed key opens. A rotation job
//     re-seals rows whose key id differs from [Keyring.CurrentKeyID] and the
//     old key is removed from config once no row uses it.
//   - [Keyring.BlindIndex]: HMAC-SHA256 under a separate index key over the
//     kind and the [Normalize]d value. The index column supports
//     "WHERE kind = $1 AND blind_index = $2" and nothing else (no prefix,
//     range or fuzzy search). Rotating the index key means recomputing every
//     index value (open, normalise, re-index); it is not versioned by key id.
//   - [Redacted]: a carrier for an identifier in memory that prints, logs and
//     marshals as "[redacted]" so it cannot leak by accident.
//
// # Binding ciphertexts to rows
//
// The additional authenticated data (AAD) passed to Seal must be passed,
// byte for byte, to Open. Callers pass something that identifies the row and
// the field, built with [AAD], e.g. AAD(patronID, KindSSN), so that a
// ciphertext copied into another patron's row, or into another column of the
// same row, fails to open. Seal and Open refuse an empty AAD.
//
// # Key material
//
// Keys come from configuration as strings:
//
//	encKeys:  "kid1:BASE64KEY,kid2:BASE64KEY"  (32-byte AES-256 keys; first one seals)
//	indexKey: "BASE64KEY"                      (at least 32 bytes; must differ from every encryption key)
//
// Base64 may be standard or URL-safe, padded or not. Key ids are 1–64
// characters from [A-Za-z0-9._-]. [GenerateKeyringSpec] produces fresh strings
// for dev mode. The index key is as sensitive as the encryption keys: with it
// the (small) space of national identifiers can be enumerated offline
// against the stored index values.
//
// With random nonces, a single AES-GCM key should not seal more than about
// 2^32 values; rotate long before that.
//
// # Errors
//
// No error returned by this package contains plaintext or key material.
// Key ids (which are not secret) may appear in errors.
package pii
