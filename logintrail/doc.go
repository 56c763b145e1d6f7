// Package logintrail lists login trails for the consortium operator: the
// last login of each staff or operator account and of each patron, its time
// and address (privacy rules §1: only the latest is kept, overwritten at
// each login; §2.6: the operator sees login trails, not patron records).
// The operator scopes an incident with it: which accounts last logged in
// from an address or network, or in a time window.
//
// A patron appears by id and home library only: no name, card or other
// part of the record. Anonymised patrons have no trail (retention clears
// it). The listing reads the accounts and patrons tables without an index
// on the trail: an index on last_login_at would cost every patron login an
// update of every index of patrons (no HOT update), for an operator query
// that is rare; docs/performance.md has its cost on 1 M patrons.
package logintrail
