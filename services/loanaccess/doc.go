// Package loanaccess is the access check the circulation services share
// before they hand patron data to staff: load the patron as a policy
// resource, ask the access policy, write the audit rows (and only then
// return data), turn a denial into a status, and render the patron the way
// the decision allows (name, card, contact of a loan).
package loanaccess
