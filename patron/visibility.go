package patron

import (
	"slices"

	"github.com/patronfed/patronfed/policy"
)

// visibility returns an SQL condition on patrons p that holds exactly for
// the patrons subject s may read (action patron.read) under the built-in
// policy (policy/rego/access.rego):
//
//   - a patron: their own record;
//   - staff of a library, with patron.read: patrons of that home library
//     (archived ones included), and patrons who are not archived and
//     consent to sharing with that library;
//   - staff with patron.read or loan.manage: patrons who are not archived,
//     have no consent to that library, and an active loan there;
//   - anyone else (operator, staff without a library): nobody.
//
// The relation is the policy's, strongest first: home, then consent, then
// loan; a weaker relation does not rescue a denial of a stronger one (home
// staff without patron.read see nothing of their own patrons, even with an
// active loan at their library). TestVisibilityMatchesPolicy proves the
// two agree on random data; keep them in step.
func visibility(s policy.Subject, a *sqlArgs) string {
	switch s.Kind {
	case policy.KindPatron:
		if s.AccountID == "" {
			return "false"
		}
		return "p.id::text = " + a.add(s.AccountID)
	case policy.KindStaff:
	default:
		return "false"
	}
	if s.LibraryID == "" {
		return "false"
	}
	read := slices.Contains(s.Permissions, policy.PermPatronRead)
	loan := read || slices.Contains(s.Permissions, policy.PermLoanManage)
	if !loan {
		return "false"
	}
	lib := a.add(s.LibraryID) + "::uuid"
	notHome := "p.home_library_id <> " + lib
	notArchived := "NOT " + archivedSQL
	// OFFSET 0 keeps each EXISTS a probe of one index per patron
	// considered: without it PostgreSQL may hash every consent (or active
	// loan) of the library first — 56 k of them for a large library, tens
	// of milliseconds before the first row — which defeats a search that
	// reads patrons in result order and stops after a page
	// (docs/performance.md).
	consent := "EXISTS (SELECT 1 FROM consents c WHERE c.patron_id = p.id AND c.library_id = " + lib + " OFFSET 0)"
	activeLoan := "EXISTS (SELECT 1 FROM loans l WHERE l.patron_id = p.id AND l.lending_library_id = " + lib +
		" AND l.returned_at IS NULL OFFSET 0)"
	if read {
		// consent OR (NOT consent AND loan) is consent OR loan: one
		// consent subquery instead of two (docs/performance.md).
		return "(p.home_library_id = " + lib + " OR (" + notHome + " AND " + notArchived +
			" AND (" + consent + " OR " + activeLoan + ")))"
	}
	return "(" + notHome + " AND " + notArchived + " AND NOT " + consent + " AND " + activeLoan + ")"
}

// CanSeeAny reports whether the subject may read any patron at all, so that
// a search by someone who may read nobody is a denied attempt, not an
// empty result.
func CanSeeAny(s policy.Subject) bool {
	return visibility(s, &sqlArgs{}) != "false"
}
