// Package opacloans implements OpacLoanService: the patron's own
// circulation in the web catalogue. It is the only API that returns loan
// and reservation history (privacy rules §2.4) and the place where the
// patron deletes it (§2.5); deleting keeps fees, detached from the title.
// Every call acts on the signed-in patron only: no request names a patron.
package opacloans
