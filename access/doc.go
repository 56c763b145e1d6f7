// Package access puts the access policy and the audit log together for the
// handlers that touch patron data: it turns the caller into a policy
// subject, asks the policy (failing closed), and builds the audit entry of
// every decision with the policy input attached, so that the operator tools
// can replay a decision against another policy (ParseInput).
//
// Handlers follow one pattern: decide, collect entries, Record them, and
// only then answer. A denial answers Denied(), the same PERMISSION_DENIED
// whether or not the patron exists (AIP-211).
package access
