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

// TestClearingReadsByIndex: the statements of a hold shelf clearing find
// their reservations through migration 00019's partial indexes, never by
// scanning the table, which keeps a year of every library's history. With
// sequential scans priced out, a plan that still has one has no index to
// use.
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
	for name, sql := range map[string]string{
		"lock":   lockShelfSQL,
		"expire": expireSQL,
		"clear":  clearSQL,
		"left":   shelfLeft("IS NULL"),
	} {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			args := []any{lib, now}
			if !strings.Contains(sql, "$2") {
				args = args[:1]
			}
			rows, err := tx.Query(ctx, "EXPLAIN (COSTS OFF) "+sql, args...)
			if err != nil {
				return err
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			text := strings.Join(plan, "\n")
			if strings.Contains(text, "Seq Scan on reservations") {
				t.Errorf("%s scans reservations:\n%s", name, text)
			}
			if !strings.Contains(text, "reservations_to_clear_idx") && !strings.Contains(text, "reservations_active_pickup_idx") {
				t.Errorf("%s uses neither partial index:\n%s", name, text)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
