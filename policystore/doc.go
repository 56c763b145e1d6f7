// Package policystore keeps the access policy in PostgreSQL and every
// replica's policy engine on the active version.
//
// A policy is a versioned, immutable bundle (policy_bundles: Rego modules
// and data). The active version is the one named by the latest row of
// policy_activations; activating or rolling back appends a row, so the
// history of who switched the policy, and when, is the table itself.
// Version 1 is the policy built into the binary (policy.Builtin), stored
// and activated at first start by EnsureBuiltin.
//
// Reloader serves decisions from the active version. Inserting an
// activation fires pg_notify('patronfed_policy') on commit; every Reloader
// LISTENs on a dedicated connection and reloads at once, and also polls
// every few seconds so that a lost connection or notification delays a
// switch by at most one poll interval. A bundle that does not compile on
// this replica is not loaded: the replica keeps deciding with the version
// it has and logs the failure.
package policystore
