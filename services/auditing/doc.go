// Package auditing implements AuditService: the consortium operator's
// search of the audit log, breach scoping with CSV/JSON export, and
// verification of the log's hash chain.
package auditing
