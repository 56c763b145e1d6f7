package circulation

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/store"
)

// TestMigrationPutsReadyCopiesOnTheShelf: migration 00019 marks the copies
// of reservations that were already ready (since 00018) as on their pickup
// library's hold shelf, and no other copy.
func TestMigrationPutsReadyCopiesOnTheShelf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDB(t)
	st, err := store.MigrateStatus(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	since := 0 // migrations from 00019 on
	for _, m := range st {
		if m.Version >= 19 {
			since++
		}
	}
	if err := store.MigrateDown(ctx, url, since); err != nil { // back to 00018
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `
		WITH l AS (INSERT INTO libraries (code, name, country) VALUES ('MIG', 'Migration', 'CZ') RETURNING id),
		p AS (INSERT INTO patrons (home_library_id, first_name, last_name) SELECT id, 'A', 'B' FROM l RETURNING id, home_library_id),
		i AS (INSERT INTO items (barcode, title, owning_library_id, created_at, updated_at)
			SELECT b, 'T', home_library_id, now(), now() FROM p, unnest(ARRAY['MIG-1', 'MIG-2']) b RETURNING id, barcode)
		INSERT INTO reservations (item_id, patron_id, pickup_library_id, placed_at, expires_at, ready_at)
		SELECT i.id, p.id, p.home_library_id, now(), now() + interval '7 days', CASE WHEN i.barcode = 'MIG-1' THEN now() END
		FROM i, p`); err != nil {
		t.Fatal(err)
	}
	if err := store.MigrateUp(ctx, url); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `SELECT i.barcode FROM items i JOIN libraries l ON l.id = i.hold_shelf_library_id WHERE l.code = 'MIG'`)
	if err != nil {
		t.Fatal(err)
	}
	var shelved []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		shelved = append(shelved, b)
	}
	if err := rows.Err(); err != nil || len(shelved) != 1 || shelved[0] != "MIG-1" {
		t.Errorf("copies on MIG's hold shelf after 00019: %v, %v; want MIG-1 (its hold was ready), not MIG-2", shelved, err)
	}
}
