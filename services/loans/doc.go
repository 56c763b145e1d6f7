// Package loans implements LoanService: circulation for staff (items,
// checkout, renewal, check-in, reservations, active-loan lists and the last
// borrower of an item). The lending rules live in package circulation; the
// policy decision and audit in package loanaccess. Nothing here ever
// returns a returned loan or a finished reservation.
package loans
