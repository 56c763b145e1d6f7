package circulation

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// History entry kinds and outcomes.
const (
	EntryLoan        = "loan"
	EntryReservation = "reservation"

	OutcomeReturned  = "returned"
	OutcomeFulfilled = "fulfilled"
	OutcomeCancelled = "cancelled"
	OutcomeExpired   = "expired"
)

// HistoryEntry is a returned loan or a finished reservation: data that
// only the patron reads, in their own account (privacy-rules §2.4).
type HistoryEntry struct {
	ID, Kind, Outcome string
	// Barcode is "" for a title hold that ended before a copy was
	// captured for it; Title is then that of the record's first copy.
	Barcode, Title     string
	RecordID           string
	LibraryID          string
	StartedAt, EndedAt time.Time
}

// History lists a page of the patron's history, newest first.
func History(ctx context.Context, q Querier, patronID string, limit, offset int) ([]HistoryEntry, error) {
	rows, err := q.Query(ctx, `
		SELECT l.id::text, 'loan', 'returned', i.barcode, i.title, '', l.lending_library_id::text, l.checked_out_at, l.returned_at
			FROM loans l JOIN items i ON i.id = l.item_id WHERE l.patron_id = $1 AND l.returned_at IS NOT NULL
		UNION ALL
		SELECT r.id::text, 'reservation', r.status, coalesce(i.barcode, ''), coalesce(i.title, `+recordTitle+`, ''),
				coalesce(r.record_id, ''), r.pickup_library_id::text, r.placed_at, r.finished_at
			FROM reservations r LEFT JOIN items i ON i.id = r.item_id WHERE r.patron_id = $1 AND r.status <> 'active'
		ORDER BY 9 DESC, 1 LIMIT $2 OFFSET $3`, patronID, limit, offset)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HistoryEntry, error) {
		var e HistoryEntry
		err := r.Scan(&e.ID, &e.Kind, &e.Outcome, &e.Barcode, &e.Title, &e.RecordID, &e.LibraryID, &e.StartedAt, &e.EndedAt)
		return e, err
	})
}

// DeleteHistory removes entries from the patron's history: every entry, or
// only entryID when it is not "". The rows are not deleted but cut from the
// patron (patron_id NULL), as retention does a year later: the patron no
// longer sees them and nobody can tie them to the patron, while the
// anonymous loan still counts in the statistics (privacy-rules §2.9). Fees
// and notice claims of such a loan stay, with their amounts and dates,
// detached from it and so from the borrowed title; the idempotency records
// that pointed at it go. It returns how many entries were removed; a single
// entry that is not the patron's history gives ErrEntryNotFound.
func DeleteHistory(ctx context.Context, tx Querier, patronID, entryID string) (int, error) {
	rows, err := tx.Query(ctx, `UPDATE loans SET patron_id = NULL
		WHERE patron_id = $1 AND returned_at IS NOT NULL AND ($2 = '' OR id = nullif($2, '')::uuid)
		RETURNING id`, patronID, entryID)
	if err != nil {
		return 0, err
	}
	loanIDs, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `UPDATE reservations SET patron_id = NULL
		WHERE patron_id = $1 AND status <> 'active' AND ($2 = '' OR id = nullif($2, '')::uuid)`, patronID, entryID)
	if err != nil {
		return 0, err
	}
	n := len(loanIDs) + int(tag.RowsAffected())
	if entryID != "" && n == 0 {
		return 0, ErrEntryNotFound
	}
	if len(loanIDs) > 0 {
		for _, q := range []string{
			`UPDATE fees SET loan_id = NULL WHERE loan_id = ANY($1)`,
			`UPDATE notice_claims SET loan_id = NULL WHERE loan_id = ANY($1)`,
			`DELETE FROM circulation_requests WHERE result_id = ANY($1)`,
		} {
			if _, err := tx.Exec(ctx, q, loanIDs); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}
