// Package consent records a patron's consents (privacy rules §2.2, §4.3):
// to share their record with another member library, and to the keeping of
// optional contact data. The consents in force are rows (consents, and
// patrons.optional_data_consent); every change also appends to
// consent_events: when, how (in person, web) and by whom.
//
// Nothing here is cached, anywhere: the policy reads the consents in force
// on every request (patron.LoadResource), so a withdrawal takes effect on
// the very next request at every replica. Withdrawing the optional-data
// consent erases the optional data (e-mail, phone, academic titles) in the
// same transaction; a CHECK constraint on patrons makes keeping them
// without consent impossible.
package consent
