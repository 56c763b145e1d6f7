// Package audit is the append-only, hash-chained log of access to patron
// data: every staff read, search hit and denied attempt, written durably
// together with the access (privacy rules §5.4: the operator must be able to
// tell quickly which patrons and which data an incident touched).
//
// # Writing
//
// Handlers call Writer.Record with one Entry per decision and return their
// answer only after Record returns nil: no read leaves the server without
// its committed audit row. Record hands the entries to the writer's
// goroutine, which does group commit: it takes every request waiting, writes
// them all in one transaction (lock the chain head row, number the rows,
// compute the hashes in order, insert, move the head, commit) and only then
// releases the callers. Many concurrent reads thus cost one commit, and
// appends from every replica are serialised by the head row lock, so seq has
// no gaps.
//
// The database role the server runs as (patronfed_app) may INSERT and
// SELECT audit_log but not UPDATE, DELETE or TRUNCATE it (see migration
// 00003). Old rows leave only through the SECURITY DEFINER function
// audit_purge_before(cutoff), which deletes a prefix of the chain and
// records its last row's seq and hash in audit_purges as an anchor.
//
// # The chain
//
// Each row's hash is
//
//	hash = SHA-256( "patronfed.audit.v1" 0x00 || prev_hash || encode(row) )
//
// where prev_hash is the previous row's hash (32 zero bytes for seq 1, or
// the anchor of the latest purge) and encode(row) is the concatenation, in
// this order, of
//
//	seq             int64, 8 bytes big-endian
//	at              int64 microseconds since the Unix epoch (the column's precision), 8 bytes big-endian
//	request_id      string
//	actor_kind      string
//	actor_id        nullable string (lower-case UUID text)
//	actor_library_id nullable string
//	actor_roles     string list
//	token_id        string
//	action          string
//	patron_id       nullable string
//	allowed         1 byte, 0 or 1
//	reasons         string list
//	fields          string list
//	policy_version  int64, 8 bytes big-endian
//	input           string: PostgreSQL's text rendering of the jsonb value (input::text)
//
// with string = uvarint byte length followed by the bytes, nullable string
// = 0x00 for NULL or 0x01 followed by a string, and string list = uvarint
// count followed by each string. Every field is length-prefixed or of fixed
// size, so no two different rows encode the same. The input is hashed in
// the form the database returns it (jsonb normalises key order and spacing),
// so Verify recomputes exactly what the writer hashed.
//
// Verify recomputes the chain in seq order from the latest anchor and
// reports the first broken link: a changed row, a missing row, or a chain
// head that does not match the last row (rows deleted from, or added after,
// the end).
package audit
