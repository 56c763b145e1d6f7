// Package store is patronfed's PostgreSQL layer: the pgx/v5 connection pool
// (Open), transactions with retry of serialization failures and deadlocks
// (InTx), the single mapping from database errors to gRPC status errors
// (Status, RegisterConstraint), and schema migrations (MigrateUp,
// MigrateDown, MigrateStatus) from the SQL files embedded from
// store/migrations.
//
// Error handling convention: repository code returns database errors
// unchanged (wrapping with %w is fine); the gRPC handler boundary calls
// Status once. Status never copies PostgreSQL's message or detail into the
// status, because they quote row values (personal data); it maps
// constraint names to request fields through RegisterConstraint instead.
package store
