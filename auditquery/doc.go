// Package auditquery answers the operator's questions about the audit log
// (table audit_log, written by package audit): searching entries with
// keyset paging, and scoping a personal-data breach (privacy rules §5 rule
// 4): which patrons and which field groups the reads of an account, a
// library or a token, in a time window, exposed, with counts, exported as
// CSV or JSON for the report to the supervisory authority.
//
// Queries are built with only the conditions asked for, so that the planner
// uses the log's indexes ((actor_id, at), (actor_library_id, at),
// (token_id), (at)) with a custom plan; docs/performance.md ("Breach
// scoping") has the measurements on a log of a million rows.
package auditquery
