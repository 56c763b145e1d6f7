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

// TestShelfReadsByIndex: expiring a library's reservations, listing its
// hold shelf to clear and listing its ready holds find their rows through
// the partial indexes of migrations 00019, 00021 and 00024, never by scanning
// reservations (a year of every library's history) or items. With
// sequential scans priced out, a plan that still has one has no index to
// use.
func TestShelfReadsByIndex(t *testing.T) {
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
		"expire":   {expireSQL, "reservations_active_pickup_idx", []any{lib, now}},
		"to clear": {toClearSQL, "items_hold_shelf_idx", []any{lib}},
		// Each copy's test probes the small index of ready holds only
		// (migration 00024).
		"to clear, the probe": {toClearSQL, "reservations_ready_item_idx", []any{lib}},
		"shelf":               {holdShelfSQL, "reservations_shelf_idx", []any{lib, true, 50, 0}},
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
			if strings.Contains(text, "Seq Scan") || !strings.Contains(text, c.index) {
				t.Errorf("%s does not find its rows through %s:\n%s", name, c.index, text)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
