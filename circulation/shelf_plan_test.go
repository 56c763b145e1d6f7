package circulation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/pgtest"
)

// TestClearingReadsByIndex: the statements of a hold shelf clearing, and
// the shelf list, find their reservations through the partial indexes of
// migrations 00019 and 00021, never by scanning the table, which keeps a
// year of every library's history. With sequential scans priced out, a
// plan that still has one has no index to use.
func TestClearingReadsByIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := pgxpool.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	lib := "00000000-0000-0000-0000-000000000001"
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		sql, index string
		args       []any
	}{
		"lock":   {lockShelfSQL, "reservations_to_clear_idx", []any{lib, now}},
		"expire": {expireSQL, "reservations_active_pickup_idx", []any{lib, now}},
		"clear":  {clearSQL, "reservations_to_clear_idx", []any{lib, now}},
		"left":   {shelfLeft("IS NULL"), "reservations_to_clear_idx", []any{lib}},
		"shelf":  {holdShelfSQL, "reservations_shelf_idx", []any{lib, true, 50, 0}},
	} {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN (COSTS OFF) "+c.sql, c.args...)
			if err != nil {
				return err
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			text := strings.Join(plan, "\n")
			if strings.Contains(text, "Seq Scan on reservations") || !strings.Contains(text, c.index) {
				t.Errorf("%s does not find its reservations through %s:\n%s", name, c.index, text)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
