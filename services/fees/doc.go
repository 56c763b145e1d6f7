// Package fees implements FeeService: fees charged to loans, payments,
// reminders and demand letters, suspensions and a patron's debts, for
// staff. Reads of a patron's accounting are decided by the access policy
// (action fee.read: home library or consent) and audited. Once a loan has
// ended, staff see its fees without the item: that is history.
package fees
