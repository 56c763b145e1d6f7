// Package policies implements PolicyService: the consortium operator's
// management of the versioned access policy (upload, validate, test, dry
// run, activate, roll back) and ExplainAccess.
package policies
