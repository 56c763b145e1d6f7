package circulation

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/store"
)

// Loan is an active loan (the staff API never sees any other kind).
type Loan struct {
	ID               string
	Item             Item
	PatronID         string
	LendingLibraryID string
	CheckedOutAt     time.Time
	DueAt            time.Time
	Renewals         int
	MaxRenewals      int
}

// Overdue reports whether the loan is past its due time at now.
func (l Loan) Overdue(now time.Time) bool { return now.After(l.DueAt) }

const activeLoanSelect = `SELECT l.id::text, ` + itemCols + `, l.patron_id::text, l.lending_library_id::text,
		l.checked_out_at, l.due_at, l.renewals, s.max_renewals
	FROM loans l JOIN items i ON i.id = l.item_id JOIN library_settings s ON s.library_id = l.lending_library_id
	WHERE l.returned_at IS NULL`

func scanLoan(row pgx.Row) (Loan, error) {
	var l Loan
	dest := append([]any{&l.ID}, l.Item.dest()...)
	err := row.Scan(append(dest, &l.PatronID, &l.LendingLibraryID, &l.CheckedOutAt, &l.DueAt, &l.Renewals, &l.MaxRenewals)...)
	return l, err
}

func collectLoans(rows pgx.Rows, err error) ([]Loan, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Loan, error) { return scanLoan(r) })
}

// ActiveLoan returns the active loan with id, or ErrLoanNotFound (also for
// a returned loan: that is history).
func ActiveLoan(ctx context.Context, q Querier, id string) (Loan, error) {
	l, err := scanLoan(q.QueryRow(ctx, activeLoanSelect+` AND l.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Loan{}, ErrLoanNotFound
	}
	return l, err
}

// ActiveLoansOfPatron lists the patron's active loans, oldest first; only
// those lent by library unless library is "".
func ActiveLoansOfPatron(ctx context.Context, q Querier, patronID, library string) ([]Loan, error) {
	rows, err := q.Query(ctx, activeLoanSelect+` AND l.patron_id = $1
		AND ($2 = '' OR l.lending_library_id = nullif($2, '')::uuid) ORDER BY l.checked_out_at, l.id`, patronID, library)
	return collectLoans(rows, err)
}

// ActiveLoansOfLibrary lists a page of the library's active loans by due
// time; with overdueOnly, only those past due at now.
func ActiveLoansOfLibrary(ctx context.Context, q Querier, library string, overdueOnly bool, now time.Time, limit, offset int) ([]Loan, error) {
	rows, err := q.Query(ctx, activeLoanSelect+` AND l.lending_library_id = $1 AND (NOT $2 OR l.due_at < $3)
		ORDER BY l.due_at, l.id LIMIT $4 OFFSET $5`, library, overdueOnly, now, limit, offset)
	return collectLoans(rows, err)
}

// CheckOut lends the item with barcode to patronID at library. The caller
// has already decided that library may lend to the patron. It refuses an
// item that is on loan, missing or withdrawn, or reserved for someone else
// (an item hold, or a title hold the copy was captured for), and a blocked
// patron; it fulfils the patron's own reservation of the item and their
// hold on its title.
func CheckOut(ctx context.Context, tx Querier, patronID, library, barcode string, now time.Time) (Loan, error) {
	it, err := lockItem(ctx, tx, barcode)
	if err != nil {
		return Loan{}, err
	}
	switch it.Status {
	case ItemAvailable:
	case ItemOnLoan:
		return Loan{}, ErrItemOnLoan
	default:
		return Loan{}, ErrItemNotLendable
	}
	// A copy travelling for a hold is lent only where it is going (there
	// the desk may lend it without checking it in first).
	if it.TransitToLibraryID != "" && it.TransitToLibraryID != library {
		return Loan{}, itemInTransit(it.TransitToLibraryID)
	}
	set, err := LibrarySettings(ctx, tx, library)
	if err != nil {
		return Loan{}, err
	}
	if err := checkBorrower(ctx, tx, patronID, set, now); err != nil {
		return Loan{}, err
	}
	if err := takeReservation(ctx, tx, it, patronID, now); err != nil {
		return Loan{}, err
	}
	var id string
	err = tx.QueryRow(ctx, `INSERT INTO loans (item_id, patron_id, lending_library_id, checked_out_at, due_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id::text`, it.ID, patronID, library, now, now.Add(set.LoanPeriod)).Scan(&id)
	if store.IsConstraint(err, "loans_one_active_per_item") {
		// Only reachable if the item's status and its loans disagree; the
		// unique index is the last word on "one active loan per item".
		return Loan{}, ErrItemOnLoan
	}
	if err != nil {
		return Loan{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE items SET status = 'on_loan', updated_at = $2, transit_to_library_id = NULL, transit_since = NULL, transit_from_library_id = NULL,
		hold_shelf_library_id = NULL WHERE id = $1`, it.ID, now); err != nil {
		return Loan{}, err
	}
	return ActiveLoan(ctx, tx, id)
}

// checkBorrower refuses a suspended patron and one whose unpaid fees in the
// lending library's currency exceed its fee_block_limit.
func checkBorrower(ctx context.Context, q Querier, patronID string, set Settings, now time.Time) error {
	var suspended bool
	var owed int64
	err := q.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM patron_suspensions WHERE patron_id = $1 AND (suspended_until IS NULL OR suspended_until > $2)),
		(SELECT coalesce(sum(amount - paid_amount), 0) FROM fees WHERE patron_id = $1 AND settled_at IS NULL AND currency = $3)`,
		patronID, now, set.Currency).Scan(&suspended, &owed)
	if err != nil {
		return err
	}
	if suspended {
		return blocked("the patron's services are suspended")
	}
	if owed > set.FeeBlockLimit {
		return blocked("unpaid fees exceed the library's fee limit")
	}
	return nil
}

// RenewLoan extends an active loan of library to now + loan period (never
// shortening it), up to the library's max_renewals. A loan reserved by
// another patron cannot be renewed, and neither can a copy of a title that
// more patrons wait for than there are copies on the shelf to serve them
// (Koha's and Evergreen's default: the waiting patron gets this copy when
// it comes back).
func RenewLoan(ctx context.Context, tx Querier, loanID, library string, now time.Time) (Loan, error) {
	l, err := scanLoan(tx.QueryRow(ctx, activeLoanSelect+` AND l.id = $1 FOR UPDATE OF l`, loanID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Loan{}, ErrLoanNotFound
	}
	if err != nil {
		return Loan{}, err
	}
	if library != "" && l.LendingLibraryID != library {
		return Loan{}, ErrNotLendingLib
	}
	set, err := LibrarySettings(ctx, tx, l.LendingLibraryID)
	if err != nil {
		return Loan{}, err
	}
	if l.Renewals >= set.MaxRenewals {
		return Loan{}, ErrRenewalLimit
	}
	if err := checkBorrower(ctx, tx, l.PatronID, set, now); err != nil {
		return Loan{}, err
	}
	var reservedByOther bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reservations
		WHERE item_id = $1 AND status = 'active' AND patron_id <> $2)`, l.Item.ID, l.PatronID).Scan(&reservedByOther); err != nil {
		return Loan{}, err
	}
	if reservedByOther {
		return Loan{}, ErrItemReserved
	}
	if l.Item.RecordID != "" {
		// Title holds still waiting for a copy (of others; not expired),
		// against copies of the title on the shelf that no hold has
		// captured: each of those will serve a waiting hold at its next
		// check-in, or at the desk.
		var waiting, free int
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM reservations WHERE record_id = $1 AND status = 'active' AND item_id IS NULL
			   AND patron_id <> $2 AND expires_at > $3),
			(SELECT count(*) FROM items i WHERE i.record_id = $1 AND i.status = 'available'
			   AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.item_id = i.id AND r.status = 'active'))`,
			l.Item.RecordID, l.PatronID, now).Scan(&waiting, &free); err != nil {
			return Loan{}, err
		}
		if waiting > free {
			return Loan{}, ErrTitleReserved
		}
	}
	due := now.Add(set.LoanPeriod)
	if due.Before(l.DueAt) {
		due = l.DueAt
	}
	if _, err := tx.Exec(ctx, `UPDATE loans SET renewals = renewals + 1, due_at = $2 WHERE id = $1`, l.ID, due); err != nil {
		return Loan{}, err
	}
	return ActiveLoan(ctx, tx, l.ID)
}

// CheckInResult is what a check-in tells the desk. It names no patron:
// from this moment the loan is history.
type CheckInResult struct {
	Item             Item
	LoanID           string
	LendingLibraryID string
	// PatronID is for the caller's bookkeeping (last activity); it is
	// not shown at the desk.
	PatronID    string
	ReturnedAt  time.Time
	OverdueDays int
	// OverdueFee is the fee charged for a late return, if any.
	OverdueFee *Fee
	// Reserved: another patron is waiting for the item (an item hold, or
	// the title hold this check-in captured the copy for).
	Reserved bool
	// PickupLibraryID is where that patron collects it (set when
	// Reserved). When it is not the library checking in, the copy is now
	// in transit there (Item.TransitToLibraryID).
	PickupLibraryID string
}

// CheckIn ends the active loan of the item at library (any member
// library). A late return is charged the lending library's overdue fee per
// started day. The patron becomes the item's last borrower. If no item hold
// waits for the copy, it is captured for the oldest hold on its record;
// if the hold is for pickup at another library, the copy goes into transit
// there.
//
// An item in transit, not on loan, is received: at its destination it
// arrives (and waits for its hold, or, if nobody waits any more, goes to
// the shelf or to the next hold); elsewhere it stays on its way, unless
// the hold it travelled for is gone and another one routes it anew. A copy
// from the shelf that a hold waits for is trapped the same way (for its
// item hold, or captured for the oldest hold on its title), and so is a
// copy on a hold shelf whose hold has ended (cleared: to the next hold,
// or back to the stacks). The result then has no loan. A copy on the
// open shelf nobody waits for is ErrItemNotOnLoan.
func CheckIn(ctx context.Context, tx Querier, barcode, library string, now time.Time) (CheckInResult, error) {
	it, err := lockItem(ctx, tx, barcode)
	if err != nil {
		return CheckInResult{}, err
	}
	if it.Status == ItemAvailable {
		res := CheckInResult{Item: it}
		if err := route(ctx, tx, &res, library, now); err != nil {
			return CheckInResult{}, err
		}
		if !res.Reserved && it.TransitToLibraryID == "" && it.HoldShelfLibraryID == "" {
			return CheckInResult{}, ErrItemNotOnLoan
		}
		return res, nil
	}
	var (
		loanID, patronID, lending string
		due                       time.Time
	)
	err = tx.QueryRow(ctx, `SELECT id::text, patron_id::text, lending_library_id::text, due_at
		FROM loans WHERE item_id = $1 AND returned_at IS NULL FOR UPDATE`, it.ID).Scan(&loanID, &patronID, &lending, &due)
	if errors.Is(err, pgx.ErrNoRows) {
		return CheckInResult{}, ErrItemNotOnLoan
	}
	if err != nil {
		return CheckInResult{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE loans SET returned_at = $2, return_library_id = $3 WHERE id = $1`, loanID, now, library); err != nil {
		return CheckInResult{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE items SET status = 'available', last_borrower_id = $2, updated_at = $3 WHERE id = $1`,
		it.ID, patronID, now); err != nil {
		return CheckInResult{}, err
	}
	it.Status = ItemAvailable
	res := CheckInResult{Item: it, LoanID: loanID, LendingLibraryID: lending, PatronID: patronID, ReturnedAt: now, OverdueDays: OverdueDays(due, now)}
	if res.OverdueDays > 0 {
		set, err := LibrarySettings(ctx, tx, lending)
		if err != nil {
			return CheckInResult{}, err
		}
		if amount := int64(res.OverdueDays) * set.OverdueFeePerDay; amount > 0 {
			f, err := insertFee(ctx, tx, patronID, lending, loanID, FeeOverdue, amount, set.Currency, now)
			if err != nil {
				return CheckInResult{}, err
			}
			res.OverdueFee = &f
		}
	}
	if err := route(ctx, tx, &res, library, now); err != nil {
		return CheckInResult{}, err
	}
	return res, nil
}

// route decides where the copy res.Item, checked in at library, goes: to
// the first hold in its queue, or else captured for the oldest hold on its
// title, or else to the shelf. A copy whose hold is for pickup elsewhere is
// put in transit there (a copy already on its way keeps its start time);
// any other copy is not in transit.
func route(ctx context.Context, tx Querier, res *CheckInResult, library string, now time.Time) error {
	it := &res.Item
	h, err := lockHeldFor(ctx, tx, it.ID)
	if err != nil {
		return err
	}
	if h.id == "" {
		// No item hold waits for the copy: it serves the oldest hold on
		// its title, if there is one.
		if h, err = captureForRecord(ctx, tx, *it, now); err != nil {
			return err
		}
	}
	res.Reserved, res.PickupLibraryID = h.id != "", h.pickup
	to, shelf := "", ""
	switch {
	case !res.Reserved:
	case h.pickup == library:
		shelf = library
		err = shelve(ctx, tx, h, now)
	default:
		to = h.pickup
		err = unshelve(ctx, tx, h) // it was ready where it was: no longer
	}
	if err != nil {
		return err
	}
	if to == it.TransitToLibraryID && shelf == it.HoldShelfLibraryID {
		return nil
	}
	from := it.TransitFromLibraryID // on the same way: from where it started
	if to != it.TransitToLibraryID {
		from = ""
		if to != "" {
			from = library
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE items SET transit_to_library_id = nullif($2, '')::uuid,
		transit_since = CASE WHEN $2 = '' THEN NULL WHEN transit_to_library_id = nullif($2, '')::uuid THEN transit_since ELSE $3::timestamptz END,
		transit_from_library_id = nullif($4, '')::uuid, hold_shelf_library_id = nullif($5, '')::uuid, updated_at = $3
		WHERE id = $1`, it.ID, to, now, from, shelf); err != nil {
		return err
	}
	it.TransitToLibraryID, it.TransitFromLibraryID, it.HoldShelfLibraryID = to, from, shelf
	return nil
}

// ReceivedOf re-reads the result of an earlier check-in that received the
// item with barcode from transit (for an idempotent retry): where the copy
// is going now.
func ReceivedOf(ctx context.Context, q Querier, barcode string) (CheckInResult, error) {
	it, err := ItemByBarcode(ctx, q, barcode)
	if err != nil {
		return CheckInResult{}, err
	}
	return whereNow(ctx, q, it)
}

// CheckInOf re-reads the result of an earlier check-in of loanID (for an
// idempotent retry). The overdue fee is the one charged to the loan then.
func CheckInOf(ctx context.Context, q Querier, loanID string) (CheckInResult, error) {
	var res CheckInResult
	var due time.Time
	err := q.QueryRow(ctx, `SELECT l.id::text, `+itemCols+`, l.lending_library_id::text, l.returned_at, l.due_at
		FROM loans l JOIN items i ON i.id = l.item_id WHERE l.id = $1 AND l.returned_at IS NOT NULL`, loanID).
		Scan(append(append([]any{&res.LoanID}, res.Item.dest()...), &res.LendingLibraryID, &res.ReturnedAt, &due)...)
	if err != nil {
		return CheckInResult{}, err
	}
	res.OverdueDays = OverdueDays(due, res.ReturnedAt)
	fees, err := collectFees(q.Query(ctx, feeSelect+` WHERE f.loan_id = $1 AND f.kind = 'overdue'`, loanID))
	if err != nil {
		return CheckInResult{}, err
	}
	if len(fees) > 0 {
		res.OverdueFee = &fees[0]
	}
	h, err := heldFor(ctx, q, res.Item.ID)
	res.Reserved, res.PickupLibraryID = h.id != "", h.pickup
	return res, err
}

// OverdueDays is the number of started days between due and returned (0
// when returned on time).
func OverdueDays(due, returned time.Time) int {
	late := returned.Sub(due)
	if late <= 0 {
		return 0
	}
	const day = 24 * time.Hour
	return int((late + day - 1) / day)
}
