// Package stats computes the statistics that may leave the system:
// aggregates with no person in them (privacy rules §2 rule 9). Every count
// is a cell; a cell below the threshold is suppressed (its number is never
// returned), so that a small group cannot single out a patron.
//
// The threshold is MinThreshold (5) by default and can be raised per
// request but never lowered below MinThreshold: a lower value would let a
// caller ask for exactly the small cells the rule exists to hide. Zero
// cells are simply absent (no person is in them). Totals are not
// returned, so a suppressed cell cannot be recovered by subtracting the
// published cells from a total. Suppression happens here, in the query
// layer, so no handler can forget it.
//
// Loan counts are per calendar month (UTC), over whole months that have
// ended only (Months, made by MonthWindow), whatever range a caller asks
// for: cells over arbitrary ranges could be subtracted from each other to
// count the loans of one day or one hour, and the cell of a month still
// running, asked for twice, to count the loans in between. Patron and
// consent counts are of the present moment: two taken a day apart differ
// by the day's registrations and consents, which is not hidden here (a
// count per category and library, at least MinThreshold when shown).
package stats
