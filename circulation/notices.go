package circulation

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notice kinds as stored.
const (
	NoticeReminder     = "reminder"
	NoticeDemandLetter = "demand_letter"
)

// Claim kinds as stored.
const (
	ClaimItem = "item"
	ClaimFee  = "fee"
)

// Notice is a reminder or pre-action demand letter with its claims as they
// were when it was made.
type Notice struct {
	ID        string
	PatronID  string
	LibraryID string
	Kind      string
	CreatedAt time.Time
	Claims    []Claim
}

// Claim is one line of a notice: an overdue item (Barcode, Title empty once
// the loan is deleted from the patron's history; DueAt kept) or an unpaid
// fee (FeeID, Amount, Currency).
type Claim struct {
	Kind string
	// LoanActive: an item claim whose loan is still active (see Fee).
	LoanActive     bool
	Barcode, Title string
	DueAt          *time.Time
	FeeID          string
	Amount         int64
	Currency       string
}

// CreateNotice records a notice of kind from library to the patron,
// claiming the patron's overdue items lent by library and unpaid fees it
// charged. With nothing to claim it returns ErrNothingToClaim.
func CreateNotice(ctx context.Context, tx Querier, patronID, library, kind string, now time.Time) (Notice, error) {
	var id string
	if err := tx.QueryRow(ctx, `INSERT INTO notices (patron_id, library_id, kind, created_at)
		VALUES ($1, $2, $3, $4) RETURNING id::text`, patronID, library, kind, now).Scan(&id); err != nil {
		return Notice{}, err
	}
	items, err := tx.Exec(ctx, `INSERT INTO notice_claims (notice_id, kind, loan_id, due_at)
		SELECT $1, 'item', id, due_at FROM loans
		WHERE patron_id = $2 AND lending_library_id = $3 AND returned_at IS NULL AND due_at < $4`, id, patronID, library, now)
	if err != nil {
		return Notice{}, err
	}
	fees, err := tx.Exec(ctx, `INSERT INTO notice_claims (notice_id, kind, fee_id, amount, currency)
		SELECT $1, 'fee', id, amount - paid_amount, currency FROM fees
		WHERE patron_id = $2 AND library_id = $3 AND settled_at IS NULL`, id, patronID, library)
	if err != nil {
		return Notice{}, err
	}
	if items.RowsAffected()+fees.RowsAffected() == 0 {
		return Notice{}, ErrNothingToClaim
	}
	ns, err := notices(ctx, tx, `n.id = $1`, id)
	if err != nil {
		return Notice{}, err
	}
	return ns[0], nil
}

// NoticesOfPatron lists the patron's notices, oldest first.
func NoticesOfPatron(ctx context.Context, q Querier, patronID string) ([]Notice, error) {
	return notices(ctx, q, `n.patron_id = $1`, patronID)
}

// NoticeByID re-reads a notice (for an idempotent retry).
func NoticeByID(ctx context.Context, q Querier, id string) (Notice, error) {
	ns, err := notices(ctx, q, `n.id = $1`, id)
	if err != nil {
		return Notice{}, err
	}
	if len(ns) == 0 {
		return Notice{}, pgx.ErrNoRows
	}
	return ns[0], nil
}

func notices(ctx context.Context, q Querier, where string, arg any) ([]Notice, error) {
	rows, err := q.Query(ctx, `SELECT n.id::text, coalesce(n.patron_id::text, ''), n.library_id::text, n.kind, n.created_at,
			c.kind, coalesce(i.barcode, ''), coalesce(i.title, ''), c.due_at, coalesce(c.fee_id::text, ''),
			coalesce(c.amount, 0), coalesce(c.currency, ''),
			coalesce(l.returned_at IS NULL, false)
		FROM notices n JOIN notice_claims c ON c.notice_id = n.id
		LEFT JOIN loans l ON l.id = c.loan_id LEFT JOIN items i ON i.id = l.item_id
		WHERE `+where+` ORDER BY n.created_at, n.id, c.kind DESC, c.due_at, c.id`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		var n Notice
		var c Claim
		if err := rows.Scan(&n.ID, &n.PatronID, &n.LibraryID, &n.Kind, &n.CreatedAt,
			&c.Kind, &c.Barcode, &c.Title, &c.DueAt, &c.FeeID, &c.Amount, &c.Currency, &c.LoanActive); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != n.ID {
			out = append(out, n)
		}
		last := &out[len(out)-1]
		last.Claims = append(last.Claims, c)
	}
	return out, rows.Err()
}
