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
// two agree on random data, in both plans; keep them in step.
func visibility(s policy.Subject, a *sqlArgs) string {
	cond, _ := visibilityIn(s, a, PlanProbe)
	return cond
}

// visibilityIn is visibility evaluated the way plan says (see SearchPlan):
// PlanProbe probes consents_library_idx and loans_active_patron_idx for
// each patron considered; PlanHashed reads the library's consents and
// active loans once (consents_library_idx, loans_active_lender_idx) into
// common table expressions, returned in with (to follow WITH) and hashed
// by each branch of the query that looks a patron up in them. The condition
// holds for the same patrons either way.
func visibilityIn(s policy.Subject, a *sqlArgs, plan SearchPlan) (cond, with string) {
	switch s.Kind {
	case policy.KindPatron:
		if s.AccountID == "" {
			return "false", ""
		}
		return "p.id::text = " + a.add(s.AccountID), ""
	case policy.KindStaff:
	default:
		return "false", ""
	}
	if s.LibraryID == "" {
		return "false", ""
	}
	read := slices.Contains(s.Permissions, policy.PermPatronRead)
	loan := read || slices.Contains(s.Permissions, policy.PermLoanManage)
	if !loan {
		return "false", ""
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
	if plan == PlanHashed {
		// Which is exactly the hashing that OFFSET 0 prevents above: an
		// uncorrelated IN is run once and hashed ("hashed SubPlan").
		// consents.patron_id is NOT NULL, so NOT IN below is NOT EXISTS;
		// an active loan has a patron (loans_active_has_patron), and the
		// condition says so, so that IN is never NULL instead of false.
		consents := "SELECT c.patron_id FROM consents c WHERE c.library_id = " + lib
		loans := "SELECT l.patron_id FROM loans l WHERE l.lending_library_id = " + lib +
			" AND l.returned_at IS NULL AND l.patron_id IS NOT NULL"
		if read {
			// One table of both relations, read once per query.
			return "(p.home_library_id = " + lib + " OR (" + notHome + " AND " + notArchived +
					" AND p.id IN (SELECT patron_id FROM linked)))",
				"linked AS MATERIALIZED (" + consents + " UNION ALL " + loans + ")"
		}
		consent = "p.id IN (SELECT patron_id FROM consenting)"
		activeLoan = "p.id IN (SELECT patron_id FROM borrowing)"
		with = "consenting AS MATERIALIZED (" + consents + "), borrowing AS MATERIALIZED (" + loans + ")"
	}
	if read {
		// consent OR (NOT consent AND loan) is consent OR loan: one
		// consent subquery instead of two (docs/performance.md).
		return "(p.home_library_id = " + lib + " OR (" + notHome + " AND " + notArchived +
			" AND (" + consent + " OR " + activeLoan + ")))", with
	}
	return "(" + notHome + " AND " + notArchived + " AND NOT " + consent + " AND " + activeLoan + ")", with
}

// CanSeeAny reports whether the subject may read any patron at all, so that
// a search by someone who may read nobody is a denied attempt, not an
// empty result.
func CanSeeAny(s policy.Subject) bool {
	return visibility(s, &sqlArgs{}) != "false"
}
