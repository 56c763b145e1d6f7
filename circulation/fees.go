package circulation

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Fee kinds as stored.
const (
	FeeOverdue = "overdue"
	FeeDamage  = "damage"
)

// Fee is a charge in minor units of Currency. LoanID, ItemBarcode and Title
// are empty once the fee is detached from its loan (the patron deleted the
// history entry, or retention anonymised it).
type Fee struct {
	ID         string
	PatronID   string // "" after anonymisation
	LibraryID  string
	LoanID     string
	Kind       string
	Amount     int64
	PaidAmount int64
	Currency   string
	ChargedAt  time.Time
	SettledAt  *time.Time

	ItemBarcode, Title string
	// LoanActive: the fee's loan is still active. Once it is not, the
	// loan is history and staff views leave the item out (the patron
	// still sees it until they delete the entry).
	LoanActive bool
}

// Owed is what is still to be paid.
func (f Fee) Owed() int64 { return f.Amount - f.PaidAmount }

const feeSelect = `SELECT f.id::text, coalesce(f.patron_id::text, ''), f.library_id::text, coalesce(f.loan_id::text, ''),
		f.kind, f.amount, f.paid_amount, f.currency, f.charged_at, f.settled_at,
		coalesce(i.barcode, ''), coalesce(i.title, ''), coalesce(l.returned_at IS NULL, false)
	FROM fees f LEFT JOIN loans l ON l.id = f.loan_id LEFT JOIN items i ON i.id = l.item_id`

func scanFee(row pgx.Row) (Fee, error) {
	var f Fee
	err := row.Scan(&f.ID, &f.PatronID, &f.LibraryID, &f.LoanID, &f.Kind, &f.Amount, &f.PaidAmount, &f.Currency,
		&f.ChargedAt, &f.SettledAt, &f.ItemBarcode, &f.Title, &f.LoanActive)
	return f, err
}

func collectFees(rows pgx.Rows, err error) ([]Fee, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Fee, error) { return scanFee(r) })
}

// FeeByID returns the fee, or ErrFeeNotFound.
func FeeByID(ctx context.Context, q Querier, id string) (Fee, error) {
	f, err := scanFee(q.QueryRow(ctx, feeSelect+` WHERE f.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Fee{}, ErrFeeNotFound
	}
	return f, err
}

// FeesOfPatron lists the patron's fees, oldest first.
func FeesOfPatron(ctx context.Context, q Querier, patronID string, unpaidOnly bool) ([]Fee, error) {
	return collectFees(q.Query(ctx, feeSelect+` WHERE f.patron_id = $1 AND (NOT $2 OR f.settled_at IS NULL)
		ORDER BY f.charged_at, f.id`, patronID, unpaidOnly))
}

func insertFee(ctx context.Context, tx Querier, patronID, library, loanID, kind string, amount int64, currency string, now time.Time) (Fee, error) {
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO fees (patron_id, library_id, loan_id, kind, amount, currency, charged_at)
		VALUES ($1, $2, nullif($3, '')::uuid, $4, $5, $6, $7) RETURNING id::text`,
		patronID, library, loanID, kind, amount, currency, now).Scan(&id)
	if err != nil {
		return Fee{}, err
	}
	return FeeByID(ctx, tx, id)
}

// ChargeDamage charges a damage fee of amount (minor units of library's
// currency) for the item with barcode: to its active loan if it is on loan
// (library must be the lending library), else to its last borrower (library
// must own the item or have lent it last).
func ChargeDamage(ctx context.Context, tx Querier, barcode, library string, amount int64, now time.Time) (Fee, error) {
	it, err := lockItem(ctx, tx, barcode)
	if err != nil {
		return Fee{}, err
	}
	var loanID, patronID, lending string
	err = tx.QueryRow(ctx, `SELECT id::text, patron_id::text, lending_library_id::text FROM loans
		WHERE item_id = $1 AND returned_at IS NULL`, it.ID).Scan(&loanID, &patronID, &lending)
	switch {
	case err == nil:
		if lending != library {
			return Fee{}, ErrNoLoanToCharge
		}
	case errors.Is(err, pgx.ErrNoRows):
		// The last ended loan, if the borrower has not deleted it from
		// their history; the borrower is kept on the item either way.
		err = tx.QueryRow(ctx, `SELECT i.last_borrower_id::text,
				coalesce((SELECT l.id::text FROM loans l WHERE l.item_id = i.id AND l.patron_id = i.last_borrower_id
					AND l.returned_at IS NOT NULL ORDER BY l.returned_at DESC LIMIT 1), ''),
				coalesce((SELECT l.lending_library_id::text FROM loans l WHERE l.item_id = i.id AND l.patron_id = i.last_borrower_id
					AND l.returned_at IS NOT NULL ORDER BY l.returned_at DESC LIMIT 1), '')
			FROM items i WHERE i.id = $1 AND i.last_borrower_id IS NOT NULL`, it.ID).Scan(&patronID, &loanID, &lending)
		if errors.Is(err, pgx.ErrNoRows) {
			return Fee{}, ErrNoLoanToCharge
		}
		if err != nil {
			return Fee{}, err
		}
		if library != it.OwningLibraryID && library != lending {
			return Fee{}, ErrNoLoanToCharge
		}
	default:
		return Fee{}, err
	}
	set, err := LibrarySettings(ctx, tx, library)
	if err != nil {
		return Fee{}, err
	}
	return insertFee(ctx, tx, patronID, library, loanID, FeeDamage, amount, set.Currency, now)
}

// RecordPayment records a payment of amount towards the fee, received at
// library. It may not exceed what is still owed; the fee is settled when
// paid in full.
func RecordPayment(ctx context.Context, tx Querier, feeID, library string, amount int64, now time.Time) (Fee, error) {
	var owed int64
	err := tx.QueryRow(ctx, `SELECT amount - paid_amount FROM fees WHERE id = $1 FOR UPDATE`, feeID).Scan(&owed)
	if errors.Is(err, pgx.ErrNoRows) {
		return Fee{}, ErrFeeNotFound
	}
	if err != nil {
		return Fee{}, err
	}
	if amount > owed {
		return Fee{}, ErrOverpayment
	}
	if _, err := tx.Exec(ctx, `INSERT INTO payments (fee_id, library_id, amount, paid_at) VALUES ($1, $2, $3, $4)`,
		feeID, library, amount, now); err != nil {
		return Fee{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE fees SET paid_amount = paid_amount + $2,
		settled_at = CASE WHEN paid_amount + $2 = amount THEN $3::timestamptz END WHERE id = $1`, feeID, amount, now); err != nil {
		return Fee{}, err
	}
	return FeeByID(ctx, tx, feeID)
}
