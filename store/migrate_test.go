package store_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/store"
)

// testMigrations is a tiny schema independent of the real one.
var testMigrations = fstest.MapFS{
	"00001_books.sql": {Data: []byte(`-- +goose Up
CREATE TABLE books (id int PRIMARY KEY, title text NOT NULL);

-- +goose Down
DROP TABLE books;
`)},
	"00002_loans.sql": {Data: []byte(`-- +goose Up
CREATE TABLE loans (book_id int REFERENCES books (id), due date NOT NULL);
-- +goose StatementBegin
CREATE FUNCTION loans_count() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT count(*) FROM loans);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION loans_count();
DROP TABLE loans;
`)},
	"00003_fines.sql": {Data: []byte(`-- +goose Up
ALTER TABLE loans ADD COLUMN fine integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE loans DROP COLUMN fine;
`)},
	"README.md": {Data: []byte("not a migration")},
}

func tables(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s string
	err = conn.QueryRow(ctx, `SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '')
		FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func applied(t *testing.T, st []store.MigrationStatus) string {
	t.Helper()
	var s []string
	for _, m := range st {
		if m.Applied {
			if m.AppliedAt.IsZero() {
				t.Errorf("%s applied without time", m.Name)
			}
			s = append(s, m.Name)
		} else if !m.AppliedAt.IsZero() {
			t.Errorf("%s pending with a time", m.Name)
		}
	}
	return strings.Join(s, ",")
}

func TestMigrationsUpStatusDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyDB(t)

	st, err := store.MigrateStatusFS(ctx, url, testMigrations)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || applied(t, st) != "" || st[0].Version != 1 || st[2].Name != "00003_fines.sql" {
		t.Fatalf("fresh status: %+v", st)
	}
	if !strings.Contains(st[0].String(), "pending") {
		t.Errorf("String() = %q", st[0].String())
	}

	if err := store.MigrateUpFS(ctx, url, testMigrations); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, url); got != "books,loans" {
		t.Errorf("tables after up: %q", got)
	}
	st, err = store.MigrateStatusFS(ctx, url, testMigrations)
	if err != nil {
		t.Fatal(err)
	}
	if got := applied(t, st); got != "00001_books.sql,00002_loans.sql,00003_fines.sql" {
		t.Errorf("applied after up: %q", got)
	}
	if !strings.Contains(st[0].String(), "applied") {
		t.Errorf("String() = %q", st[0].String())
	}
	// Up again is a no-op.
	if err := store.MigrateUpFS(ctx, url, testMigrations); err != nil {
		t.Fatal(err)
	}

	// Down by two: loans is gone, books stays.
	if err := store.MigrateDownFS(ctx, url, testMigrations, 2); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, url); got != "books" {
		t.Errorf("tables after down 2: %q", got)
	}
	st, _ = store.MigrateStatusFS(ctx, url, testMigrations)
	if got := applied(t, st); got != "00001_books.sql" {
		t.Errorf("applied after down 2: %q", got)
	}

	// Down more than applied stops at zero; down at zero is a no-op.
	if err := store.MigrateDownFS(ctx, url, testMigrations, 10); err != nil {
		t.Fatal(err)
	}
	if err := store.MigrateDownFS(ctx, url, testMigrations, 1); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, url); got != "" {
		t.Errorf("tables after down all: %q", got)
	}

	// Up again, then down to zero with steps 0.
	if err := store.MigrateUpFS(ctx, url, testMigrations); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, url); got != "books,loans" {
		t.Errorf("tables after re-up: %q", got)
	}
	if err := store.MigrateDownFS(ctx, url, testMigrations, 0); err != nil {
		t.Fatal(err)
	}
	st, _ = store.MigrateStatusFS(ctx, url, testMigrations)
	if got := applied(t, st); got != "" {
		t.Errorf("applied after down 0: %q", got)
	}
}

func TestMigrationFailureIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyDB(t)
	bad := fstest.MapFS{
		"00001_ok.sql":  testMigrations["00001_books.sql"],
		"00002_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE oops (id int REFERENCES nowhere (id));\n-- +goose Down\n")},
	}
	err := store.MigrateUpFS(ctx, url, bad)
	if err == nil || !strings.Contains(err.Error(), "00002_bad.sql") {
		t.Fatalf("err = %v", err)
	}
	// The failed migration rolled back; the good one stays applied.
	st, err := store.MigrateStatusFS(ctx, url, bad)
	if err != nil {
		t.Fatal(err)
	}
	if got := applied(t, st); got != "00001_ok.sql" {
		t.Errorf("applied: %q", got)
	}
}

// TestEmbeddedMigrations runs the real schema up, all the way down, and up
// again on an empty database: every down migration must undo its up.
func TestEmbeddedMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	names, err := fs.Glob(store.Migrations(), "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no embedded migrations: %v", err)
	}
	url := pgtest.NewEmptyDB(t)
	if err := store.MigrateUp(ctx, url); err != nil {
		t.Fatal(err)
	}
	up := tables(t, url)
	st, err := store.MigrateStatus(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(names) {
		t.Errorf("status lists %d migrations, %d embedded", len(st), len(names))
	}
	for _, m := range st {
		if !m.Applied {
			t.Errorf("%s not applied", m.Name)
		}
	}
	if err := store.MigrateDown(ctx, url, 0); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, url); got != "" {
		t.Errorf("tables left after migrating down to zero: %s", got)
	}
	if err := store.MigrateUp(ctx, url); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, url); got != up {
		t.Errorf("tables after down/up %q, want %q", got, up)
	}
}
