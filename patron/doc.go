// Package patron is the patron record of the shared patron base (privacy
// rules §1): registering, loading, updating and searching patrons, their
// cards and their encrypted identifiers, and the facts the access policy
// needs about a patron (LoadResource). It speaks SQL and knows no gRPC; the
// few errors it returns to callers as they are (validation, not found) are
// gRPC status errors without personal data.
//
// National identifiers and the ID document number are sealed with
// pii.Keyring under AAD (patron id, kind), with the key id stored beside
// each ciphertext, and found only by exact match through the keyed blind
// index. They are decrypted only when a decision returns their field group.
//
// Visibility (visibility.go) is the SQL twin of the built-in policy's
// patron.read rule, so that searches filter in the database instead of
// fetching and discarding; a test proves on random data that the two agree,
// and the services still apply the policy to every hit (a stricter uploaded
// policy wins).
package patron
