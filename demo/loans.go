package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Item is an item of the demo consortium; Record is the catalogue record
// it is a copy of ("" if not known).
type Item struct{ Barcode, Title, Library, Record string }

// Items of the demo consortium: barcodes start with the owning library.
var Items = []Item{
	{"BRNO-0001", "Karel Čapek: R.U.R.", "BRNO", ""},
	{"BRNO-0002", "Božena Němcová: Babička", "BRNO", ""},
	{"BRNO-0003", "Jaroslav Hašek: Osudy dobrého vojáka Švejka", "BRNO", "CNB000123456"},
	{"BRNO-0004", "Karel Hynek Mácha: Máj", "BRNO", ""},
	{"SLAV-0001", "Alois Jirásek: Staré pověsti české", "SLAV", "CNB000654321"},
	{"SLAV-0002", "Jan Neruda: Povídky malostranské", "SLAV", ""},
	{"KORS-0001", "Tove Jansson: Trollkarlens hatt", "KORS", ""},
	{"KORS-0002", "Johan Ludvig Runeberg: Fänrik Ståls sägner", "KORS", ""},
}

// The demo loans are dated around 2026-03-02 (the integration tests'
// clock): one active at the home library, one active and overdue at
// another library, and a history of returned loans, one returned late with
// an unpaid overdue fee and one with a paid damage fee.
var (
	demoActiveOut   = time.Date(2026, 2, 20, 10, 0, 0, 0, time.UTC)
	demoOverdueOut  = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	demoReturnedOut = time.Date(2025, 11, 3, 10, 0, 0, 0, time.UTC)
	demoLateOut     = time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC)
)

// loadLoans adds the demo items and the circulation of patron B0001 (home
// BRNO). libs maps library code to id.
func loadLoans(ctx context.Context, tx pgx.Tx, libs map[string]string) error {
	items := map[string]string{}
	for _, it := range Items {
		var id string
		if err := tx.QueryRow(ctx, `INSERT INTO items (barcode, title, owning_library_id, record_id, created_at, updated_at)
			VALUES ($1, $2, $3, nullif($4, ''), $5, $5) RETURNING id::text`,
			it.Barcode, it.Title, libs[it.Library], it.Record, demoReturnedOut.AddDate(0, -1, 0)).Scan(&id); err != nil {
			return fmt.Errorf("item %s: %w", it.Barcode, err)
		}
		items[it.Barcode] = id
	}
	var patron string
	if err := tx.QueryRow(ctx, `SELECT patron_id::text FROM cards WHERE card_number = 'B0001'`).Scan(&patron); err != nil {
		return fmt.Errorf("demo patron B0001: %w", err)
	}
	const day = 24 * time.Hour
	loan := func(barcode, lib string, out time.Time, returned *time.Time) (string, error) {
		var id string
		var retLib *string
		if returned != nil {
			l := libs[lib]
			retLib = &l
		}
		err := tx.QueryRow(ctx, `INSERT INTO loans (item_id, patron_id, lending_library_id, checked_out_at, due_at, returned_at, return_library_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::text`,
			items[barcode], patron, libs[lib], out, out.Add(28*day), returned, retLib).Scan(&id)
		if err != nil {
			return "", fmt.Errorf("loan of %s: %w", barcode, err)
		}
		if returned == nil {
			_, err = tx.Exec(ctx, `UPDATE items SET status = 'on_loan' WHERE id = $1`, items[barcode])
		} else {
			_, err = tx.Exec(ctx, `UPDATE items SET last_borrower_id = $2 WHERE id = $1`, items[barcode], patron)
		}
		return id, err
	}
	// Active at the home library, and active and overdue at Slavonice.
	if _, err := loan("BRNO-0001", "BRNO", demoActiveOut, nil); err != nil {
		return err
	}
	if _, err := loan("SLAV-0001", "SLAV", demoOverdueOut, nil); err != nil {
		return err
	}
	// History: returned on time (damaged: a paid damage fee), and returned
	// ten days late (an unpaid overdue fee of the lending library's rate).
	onTime := demoReturnedOut.Add(20 * day)
	returned, err := loan("BRNO-0002", "BRNO", demoReturnedOut, &onTime)
	if err != nil {
		return err
	}
	late := demoLateOut.Add(38 * day)
	lateLoan, err := loan("BRNO-0003", "BRNO", demoLateOut, &late)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO fees (patron_id, library_id, loan_id, kind, amount, currency, paid_amount, charged_at, settled_at)
		SELECT $1, $2, $3, 'damage', 15000, s.currency, 15000, $4, $4 FROM library_settings s WHERE s.library_id = $2`,
		patron, libs["BRNO"], returned, onTime); err != nil {
		return fmt.Errorf("damage fee: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO payments (fee_id, library_id, amount, paid_at)
		SELECT id, library_id, amount, charged_at FROM fees WHERE loan_id = $1`, returned); err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO fees (patron_id, library_id, loan_id, kind, amount, currency, charged_at)
		SELECT $1, $2, $3, 'overdue', 10 * s.overdue_fee_per_day, s.currency, $4 FROM library_settings s WHERE s.library_id = $2`,
		patron, libs["BRNO"], lateLoan, late); err != nil {
		return fmt.Errorf("overdue fee: %w", err)
	}
	return nil
}
