package circulation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PatronDebts is what a patron still owes: the one answer retention and
// erasure (privacy-rules §3, §4.2) ask before archiving, anonymising or
// erasing. (It is not called Debts because Go does not allow a type and
// the function Debts of the same name in one package.)
type PatronDebts struct {
	UnreturnedItems  []DebtItem
	UnpaidFees       []DebtFee
	Suspended        bool
	SuspensionReason string
	// SuspendedUntil is nil for a suspension until lifted.
	SuspendedUntil *time.Time
}

// DebtItem is an item on loan.
type DebtItem struct {
	Barcode          string
	Title            string
	Due              time.Time
	LendingLibraryID string
}

// DebtFee is a fee not fully paid; Amount is what is still owed, in minor
// units of Currency.
type DebtFee struct {
	ID       string
	Amount   int64
	Currency string
	Kind     string
}

// Any reports whether the patron owes anything or is suspended.
func (d PatronDebts) Any() bool {
	return len(d.UnreturnedItems) > 0 || len(d.UnpaidFees) > 0 || d.Suspended
}

// Reasons says in words why Any is true, one line per kind of debt, e.g.
// "patron has 2 unreturned items". The lines name no person and no title,
// so they may go into a status message or a log.
func (d PatronDebts) Reasons() []string {
	var out []string
	if n := len(d.UnreturnedItems); n > 0 {
		out = append(out, fmt.Sprintf("patron has %d unreturned %s", n, plural(n, "item", "items")))
	}
	if n := len(d.UnpaidFees); n > 0 {
		totals := map[string]int64{}
		var currencies []string
		for _, f := range d.UnpaidFees {
			if _, ok := totals[f.Currency]; !ok {
				currencies = append(currencies, f.Currency)
			}
			totals[f.Currency] += f.Amount
		}
		amounts := make([]string, len(currencies))
		for i, c := range currencies {
			amounts[i] = FormatAmount(totals[c], c)
		}
		out = append(out, fmt.Sprintf("patron has %d unpaid %s totalling %s", n, plural(n, "fee", "fees"), strings.Join(amounts, " and ")))
	}
	if d.Suspended {
		r := "patron's services are suspended"
		if d.SuspendedUntil != nil {
			r += " until " + d.SuspendedUntil.UTC().Format(time.DateOnly)
		}
		out = append(out, r)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// FormatAmount writes minor units as a decimal amount with the currency
// code, e.g. 1250 CZK as "12.50 CZK". It assumes two decimals, which holds
// for the consortium's currencies (EUR, CZK, SEK, ...).
func FormatAmount(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency)
}

// Debts answers "what does this patron still owe" as of now (the wall
// clock, which only matters for a suspension's end). Services with an
// injected clock call DebtsAt.
func Debts(ctx context.Context, q Querier, patronID string) (PatronDebts, error) {
	return DebtsAt(ctx, q, patronID, time.Now())
}

// DebtsAt is Debts at time now.
func DebtsAt(ctx context.Context, q Querier, patronID string, now time.Time) (PatronDebts, error) {
	var d PatronDebts
	rows, err := q.Query(ctx, `SELECT i.barcode, i.title, l.due_at, l.lending_library_id::text
		FROM loans l JOIN items i ON i.id = l.item_id
		WHERE l.patron_id = $1 AND l.returned_at IS NULL ORDER BY l.due_at, l.id`, patronID)
	if err != nil {
		return PatronDebts{}, err
	}
	d.UnreturnedItems, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DebtItem, error) {
		var it DebtItem
		err := r.Scan(&it.Barcode, &it.Title, &it.Due, &it.LendingLibraryID)
		return it, err
	})
	if err != nil {
		return PatronDebts{}, err
	}
	rows, err = q.Query(ctx, `SELECT id::text, amount - paid_amount, currency, kind FROM fees
		WHERE patron_id = $1 AND settled_at IS NULL ORDER BY charged_at, id`, patronID)
	if err != nil {
		return PatronDebts{}, err
	}
	d.UnpaidFees, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DebtFee, error) {
		var f DebtFee
		err := r.Scan(&f.ID, &f.Amount, &f.Currency, &f.Kind)
		return f, err
	})
	if err != nil {
		return PatronDebts{}, err
	}
	err = q.QueryRow(ctx, `SELECT reason, suspended_until FROM patron_suspensions
		WHERE patron_id = $1 AND (suspended_until IS NULL OR suspended_until > $2)`, patronID, now).
		Scan(&d.SuspensionReason, &d.SuspendedUntil)
	switch {
	case err == nil:
		d.Suspended = true
	case !errors.Is(err, pgx.ErrNoRows):
		return PatronDebts{}, err
	}
	return d, nil
}
