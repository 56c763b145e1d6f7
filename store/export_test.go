package store

// Internal variants taking the migrations' fs.FS, for tests in package
// store_test (which imports pgtest, which imports store).
var (
	MigrateUpFS     = migrateUp
	MigrateDownFS   = migrateDown
	MigrateStatusFS = migrateStatus
)
