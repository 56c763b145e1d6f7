// Package retention enforces the retention periods of privacy-rules §3:
// loan and reservation history is anonymised, idle patron accounts are
// archived and later anonymised (never while a debt is open), pending
// self-registrations and event sign-up sheets are deleted, and the audit
// log is purged after its period. Every period is the library's setting
// (library_settings), read in the SQL of each step.
//
// The engine (Run) works in bounded batches, each its own short
// transaction that locks only its rows (FOR UPDATE SKIP LOCKED) and walks
// the table by primary key, so a run never holds long locks on hot tables.
// Every step selects only rows still due, so a run is idempotent and a run
// killed midway is finished by the next one. A dry run executes the very
// same batches and rolls each one back: its report is exactly what a real
// run would do at that moment, and it changes nothing.
//
// Only one run at a time in the whole deployment: Run holds a PostgreSQL
// session advisory lock on a dedicated connection for its duration; a
// replica that does not get it skips (ErrBusy). The Scheduler runs the
// engine periodically inside `patronfed serve`; `patronfed retention run`
// runs it on demand.
//
// AnonymisePatron is the one definition of anonymising a person (also used
// for erasure requests): personal fields cleared, links to the person cut,
// the rows that statistics count (loans per library and month, patrons per
// home library and category) kept.
package retention
