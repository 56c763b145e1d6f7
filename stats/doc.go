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
package stats
