// Package retention implements RetentionService, the staff side of
// retention (privacy-rules §3): restoring an archived patron account when
// the patron returns. The retention runs themselves are package
// retention's engine, scheduled in the server and run on demand by
// `patronfed retention run`.
package retention
