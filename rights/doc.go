// Package rights is the patron's rights of access and erasure
// (privacy-rules §4): requests with their 30-day deadline, the extract of
// everything held about a patron (Build), and erasure with its written
// confirmation (Erase). It speaks SQL and knows no gRPC; who may ask for
// what is decided by the service (services/rights).
//
// The extract is built from the tables themselves rather than from the
// other domain packages' read models, so that it shows every column held
// about the person, including what no API returns (the login trail, the
// audit of who read the record, cut-off history). Anything added to the
// schema about patrons must be added here: TestExtractCoversEveryKind in
// services/rights fails when a data kind of §1 is missing.
package rights
