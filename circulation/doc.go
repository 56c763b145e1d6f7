// Package circulation is the lending domain of patronfed: items, loans,
// reservations, fees and payments, reminders and demand letters, patron
// suspensions, the patron's own history, and Debts, the one query that says
// what a patron still owes.
//
// The SPOK rule (privacy-rules §2 rules 3–5) is built into the queries: an
// active loan is one with returned_at IS NULL and is what staff lists read;
// a returned loan or finished reservation is history and is read only by
// the History functions, which the patron's own API calls. Fees reference
// their loan with ON DELETE SET NULL, so DeleteHistory keeps every fee
// (amount, dates, kind) but detaches it from the borrowed title.
//
// A reservation names an item or a title (a catalogue record, the
// record_id of its copies). A title hold waits in its record's queue and
// holds back no copy until one is checked in that no item hold waits for:
// CheckIn then captures that copy for the record's oldest active hold,
// which from then on is an item hold at the front of the copy's queue
// (reservations.item_id; record_id stays). A checkout fulfils the
// borrower's own hold on the copy's title, captured or not.
//
// Functions take a Querier (a pgx.Tx or a pool) and the current time from
// the caller's injected clock; a state change is meant to run inside one
// store.InTx. Business-rule failures are returned as gRPC status errors
// with messages that name no person (NotFound, FailedPrecondition);
// database errors are returned unchanged for store.Status. Who may call
// what (policy, audit) is decided by the services, not here.
package circulation
