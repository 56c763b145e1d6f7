// Package patrons implements PatronService: registering, reading, updating,
// listing and searching patrons, for staff.
//
// Every read goes the same way: load the patron and what the policy needs
// in one snapshot, decide, write the audit row (allowed or denied), and only
// then answer, with exactly the field groups the decision returns. A denial
// answers PERMISSION_DENIED whether or not the patron exists (AIP-211).
// Searches filter in SQL (patron.Search) and still put every hit through
// the policy, so a stricter uploaded policy wins.
package patrons
