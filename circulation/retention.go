package circulation

import (
	"context"
	"time"
)

// AnonymiseExpiredHistory anonymises the history that has outlived its
// library's history_retention_months at now (privacy-rules §3: loan and
// reservation history is anonymised a year after the transaction ends;
// fees tied to a loan are detached from the borrowed title then). For
// each returned loan past the period: its fees and notice claims are
// detached from it, the idempotency records naming it are deleted, the
// item forgets the patron as its last borrower (unless the patron borrowed
// it again later), and the loan loses its patron. Finished reservations
// past the period lose their patron. The anonymous rows stay for
// statistics. Run it in one transaction (store.InTx).
func AnonymiseExpiredHistory(ctx context.Context, q Querier, now time.Time) (loans, reservations int, err error) {
	tag, err := q.Exec(ctx, `
		WITH old AS (
			SELECT l.id, l.patron_id, l.item_id,
				$1::timestamptz - make_interval(months => s.history_retention_months) AS cutoff
			FROM loans l JOIN library_settings s ON s.library_id = l.lending_library_id
			WHERE l.patron_id IS NOT NULL AND l.returned_at IS NOT NULL
				AND l.returned_at < $1::timestamptz - make_interval(months => s.history_retention_months)
			FOR UPDATE OF l
		), fees AS (
			UPDATE fees SET loan_id = NULL WHERE loan_id IN (SELECT id FROM old)
		), claims AS (
			UPDATE notice_claims SET loan_id = NULL WHERE loan_id IN (SELECT id FROM old)
		), requests AS (
			DELETE FROM circulation_requests WHERE result_id IN (SELECT id FROM old)
		), items AS (
			UPDATE items i SET last_borrower_id = NULL FROM old
			WHERE i.id = old.item_id AND i.last_borrower_id = old.patron_id
				AND NOT EXISTS (SELECT 1 FROM loans l WHERE l.item_id = i.id AND l.patron_id = old.patron_id
					AND (l.returned_at IS NULL OR l.returned_at >= old.cutoff))
		)
		UPDATE loans SET patron_id = NULL WHERE id IN (SELECT id FROM old)`, now)
	if err != nil {
		return 0, 0, err
	}
	loans = int(tag.RowsAffected())
	tag, err = q.Exec(ctx, `UPDATE reservations r SET patron_id = NULL FROM library_settings s
		WHERE s.library_id = r.pickup_library_id AND r.status <> 'active' AND r.patron_id IS NOT NULL
			AND r.finished_at < $1::timestamptz - make_interval(months => s.history_retention_months)`, now)
	if err != nil {
		return 0, 0, err
	}
	return loans, int(tag.RowsAffected()), nil
}
