// Package pgtest gives tests a real PostgreSQL: one private server per test
// binary (package pglocal) and a fresh, fully migrated database per test,
// cloned from a template database in a few tens of milliseconds.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		pool := pgtest.NewPool(t) // or url := pgtest.NewDB(t)
//		...
//	}
//
// The server starts lazily on first use (~1-2 s, including migrations), so
// runs that select no database test do not pay for it. All URLs connect as
// superuser postgres with trust authentication; code under test that must
// run as the app role does SET ROLE itself (store.PoolOptions.AppRole).
package pgtest
