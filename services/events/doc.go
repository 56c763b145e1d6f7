// Package events serves EventSignupService: a member library's sign-up
// sheets for its events, recorded, listed and deleted by its staff
// (patron.write) and deleted by retention event_signup_retention_months
// after the event (privacy rules §3). A sheet holds the name and contact
// its person gave, not a patron record, so no access decision is involved:
// staff see only their own library's sheets.
package events
