package circulation

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/store"
)

// Reservation is an active reservation (hold) of an item, or of a title: a
// catalogue record (RecordID), which the first copy of the record checked
// in while no item hold waits for it serves. That copy is captured for the
// record's oldest hold: Item is then the copy, and the hold queues, blocks
// checkouts and renewals and is fulfilled like an item hold on it. Item is
// the zero Item while a title hold waits for a copy.
type Reservation struct {
	ID       string
	Item     Item
	RecordID string
	// Title is the item's, or while a title hold waits for a copy that
	// of the record's first copy.
	Title           string
	PatronID        string
	PickupLibraryID string
	PlacedAt        time.Time
	ExpiresAt       time.Time
	// ReadyAt is when the copy was put on the pickup library's hold shelf
	// for this reservation (nil until then).
	ReadyAt *time.Time
	// NotifiedAt is when the pickup library recorded that the patron was
	// told (nil until then; never before ReadyAt).
	NotifiedAt *time.Time
	// QueuePosition is 1 for the first patron waiting for the item (for
	// a title hold waiting for a copy: in the title's queue).
	QueuePosition int
}

// recordTitle is the title of the record r.record_id: that of its first
// copy (copies of one record share their title).
const recordTitle = `(SELECT c.title FROM items c WHERE c.record_id = r.record_id ORDER BY c.created_at, c.id LIMIT 1)`

const activeReservationSelect = `SELECT r.id::text, ` + itemCols + `, coalesce(r.record_id, ''),
		coalesce(i.title, ` + recordTitle + `, ''), r.patron_id::text, r.pickup_library_id::text,
		r.placed_at, r.expires_at, r.ready_at, r.notified_at,
		CASE WHEN r.item_id IS NOT NULL THEN
			(SELECT count(*) FROM reservations q WHERE q.item_id = r.item_id AND q.status = 'active'
				AND (q.ready_at IS NULL, q.placed_at, q.id) <= (r.ready_at IS NULL, r.placed_at, r.id))
		ELSE
			(SELECT count(*) FROM reservations q WHERE q.record_id = r.record_id AND q.item_id IS NULL
				AND q.status = 'active' AND (q.placed_at, q.id) <= (r.placed_at, r.id))
		END
	FROM reservations r LEFT JOIN items i ON i.id = r.item_id
	WHERE r.status = 'active'`

func scanReservation(row pgx.Row) (Reservation, error) {
	var r Reservation
	dest := append([]any{&r.ID}, r.Item.dest()...)
	err := row.Scan(append(dest, &r.RecordID, &r.Title, &r.PatronID, &r.PickupLibraryID, &r.PlacedAt, &r.ExpiresAt, &r.ReadyAt, &r.NotifiedAt, &r.QueuePosition)...)
	return r, err
}

// ActiveReservation returns the active reservation with id, or
// ErrReservationGone (also for a finished one: that is history).
func ActiveReservation(ctx context.Context, q Querier, id string) (Reservation, error) {
	r, err := scanReservation(q.QueryRow(ctx, activeReservationSelect+` AND r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Reservation{}, ErrReservationGone
	}
	return r, err
}

// holdShelfSQL reads library $1's hold shelf (reservations_shelf_idx).
const holdShelfSQL = activeReservationSelect + ` AND r.pickup_library_id = $1 AND r.ready_at IS NOT NULL
	AND NOT ($2 AND r.notified_at IS NOT NULL) ORDER BY r.ready_at, r.id LIMIT $3 OFFSET $4`

// HoldShelf lists the active reservations whose copies wait on library's
// hold shelf (only those whose patron was not notified yet, if
// unnotifiedOnly), longest waiting first.
func HoldShelf(ctx context.Context, q Querier, library string, unnotifiedOnly bool, limit, offset int) ([]Reservation, error) {
	rows, err := q.Query(ctx, holdShelfSQL, library, unnotifiedOnly, limit, offset)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Reservation, error) { return scanReservation(r) })
}

// MarkNotified records at now that the patrons of the reservations ids,
// waiting on library's hold shelf, were told; one already marked keeps its
// time. If any of ids is not waiting there, it marks none and returns a
// NotFound error naming it.
func MarkNotified(ctx context.Context, tx Querier, library string, ids []string, now time.Time) error {
	rows, err := tx.Query(ctx, `UPDATE reservations SET notified_at = coalesce(notified_at, $3)
		WHERE id = ANY($1::uuid[]) AND pickup_library_id = $2 AND status = 'active' AND ready_at IS NOT NULL
		RETURNING id::text`, ids, library, now)
	if err != nil {
		return err
	}
	marked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(marked, id) {
			return notOnShelf(id)
		}
	}
	return nil
}

// ActiveReservationsOfPatron lists the patron's active reservations; only
// those for pickup at library unless library is "".
func ActiveReservationsOfPatron(ctx context.Context, q Querier, patronID, library string) ([]Reservation, error) {
	rows, err := q.Query(ctx, activeReservationSelect+` AND r.patron_id = $1
		AND ($2 = '' OR r.pickup_library_id = nullif($2, '')::uuid) ORDER BY r.placed_at, r.id`, patronID, library)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Reservation, error) { return scanReservation(r) })
}

// PlaceReservation reserves the item for patronID, for pickup at library,
// until expires (zero: the library's reservation_days from now).
func PlaceReservation(ctx context.Context, tx Querier, patronID, library, barcode string, expires, now time.Time) (Reservation, error) {
	it, err := lockItem(ctx, tx, barcode)
	if err != nil {
		return Reservation{}, err
	}
	if it.Status != ItemAvailable && it.Status != ItemOnLoan {
		return Reservation{}, ErrItemNotLendable
	}
	set, err := reservingBorrower(ctx, tx, patronID, library, now)
	if err != nil {
		return Reservation{}, err
	}
	var borrowing bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM loans WHERE item_id = $1 AND patron_id = $2 AND returned_at IS NULL)`,
		it.ID, patronID).Scan(&borrowing); err != nil {
		return Reservation{}, err
	}
	if borrowing {
		return Reservation{}, ErrAlreadyBorrowing
	}
	if expires, err = reservationExpiry(set, expires, now); err != nil {
		return Reservation{}, err
	}
	var id string
	err = tx.QueryRow(ctx, `INSERT INTO reservations (item_id, patron_id, pickup_library_id, placed_at, expires_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id::text`, it.ID, patronID, library, now, expires).Scan(&id)
	if store.IsConstraint(err, "reservations_one_active_per_patron_item") {
		return Reservation{}, ErrAlreadyReserved
	}
	if err != nil {
		return Reservation{}, err
	}
	return ActiveReservation(ctx, tx, id)
}

// PlaceRecordReservation reserves the title recordID (a catalogue record)
// for patronID, for pickup at library, until expires (zero: the library's
// reservation_days from now). It needs a copy of the record that is not
// missing or withdrawn; the hold waits for the first copy checked in (see
// CheckIn). A patron holds a record once, and not while borrowing a copy.
func PlaceRecordReservation(ctx context.Context, tx Querier, patronID, library, recordID string, expires, now time.Time) (Reservation, error) {
	var lendable bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM items WHERE record_id = $1 AND status IN ('available', 'on_loan'))`,
		recordID).Scan(&lendable); err != nil {
		return Reservation{}, err
	}
	if !lendable {
		return Reservation{}, ErrRecordNotLendable
	}
	set, err := reservingBorrower(ctx, tx, patronID, library, now)
	if err != nil {
		return Reservation{}, err
	}
	var borrowing bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM loans l JOIN items i ON i.id = l.item_id
		WHERE i.record_id = $1 AND l.patron_id = $2 AND l.returned_at IS NULL)`, recordID, patronID).Scan(&borrowing); err != nil {
		return Reservation{}, err
	}
	if borrowing {
		return Reservation{}, ErrAlreadyBorrowingRecord
	}
	if expires, err = reservationExpiry(set, expires, now); err != nil {
		return Reservation{}, err
	}
	var id string
	err = tx.QueryRow(ctx, `INSERT INTO reservations (record_id, patron_id, pickup_library_id, placed_at, expires_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id::text`, recordID, patronID, library, now, expires).Scan(&id)
	if store.IsConstraint(err, "reservations_one_active_per_patron_record") {
		return Reservation{}, ErrAlreadyReservedRecord
	}
	if err != nil {
		return Reservation{}, err
	}
	return ActiveReservation(ctx, tx, id)
}

// reservingBorrower reads the pickup library's rules and refuses a patron
// who may not borrow there.
func reservingBorrower(ctx context.Context, tx Querier, patronID, library string, now time.Time) (Settings, error) {
	set, err := LibrarySettings(ctx, tx, library)
	if err != nil {
		return Settings{}, err
	}
	return set, checkBorrower(ctx, tx, patronID, set, now)
}

// reservationExpiry is expires, or by default the pickup library's
// reservation period from now; it must be after now.
func reservationExpiry(set Settings, expires, now time.Time) (time.Time, error) {
	if expires.IsZero() {
		expires = now.Add(set.ReservationPeriod)
	}
	if !expires.After(now) {
		return time.Time{}, errExpiryInPast
	}
	return expires, nil
}

// takeReservation lets a checkout of it go ahead only if nobody else is
// first in the item's queue (an item hold, or a title hold captured for
// this copy), and fulfils the borrower's own reservation of the item and
// their hold on its title, captured or not, which the copy now serves. A
// title hold still waiting for a copy does not hold back a copy on the
// shelf.
func takeReservation(ctx context.Context, tx Querier, it Item, patronID string, now time.Time) error {
	first, err := lockHeldFor(ctx, tx, it.ID)
	switch {
	case err != nil:
		return err
	case first.id == "":
	case first.patron != patronID:
		return ErrItemReserved
	default:
		if _, err := tx.Exec(ctx, `UPDATE reservations SET status = 'fulfilled', finished_at = $2 WHERE id = $1`, first.id, now); err != nil {
			return err
		}
	}
	if it.RecordID == "" {
		return nil
	}
	_, err = tx.Exec(ctx, `UPDATE reservations SET status = 'fulfilled', finished_at = $3, item_id = $4
		WHERE record_id = $1 AND patron_id = $2 AND status = 'active'`, it.RecordID, patronID, now, it.ID)
	return err
}

// queueOrder orders the active holds on one copy: the one it waits for on
// a hold shelf first (a hold placed later, or in the same instant, never
// takes a copy from the shelf where its patron has been told to collect
// it), then by the time each was placed. The id is qualified: its
// statements select id::text, and a bare id in ORDER BY names that
// output column (the same order, sorted as text).
const queueOrder = `ready_at IS NULL, placed_at, reservations.id`

// hold is the reservation a copy is held for, whose it is, and where it
// is collected (patron only from lockHeldFor).
type hold struct{ id, pickup, patron string }

// captureForRecord binds the copy it, just checked in and wanted by no
// item hold, to the oldest active, unexpired hold on its record, if any,
// and returns that hold (zero when none waits). Concurrent check-ins of
// two copies capture two different holds (SKIP LOCKED).
func captureForRecord(ctx context.Context, tx Querier, it Item, now time.Time) (hold, error) {
	if it.RecordID == "" {
		return hold{}, nil
	}
	var h hold
	err := tx.QueryRow(ctx, `UPDATE reservations SET item_id = $1 WHERE id = (
		SELECT id FROM reservations WHERE record_id = $2 AND item_id IS NULL AND status = 'active' AND expires_at > $3
		ORDER BY placed_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id::text, pickup_library_id::text`, it.ID, it.RecordID, now).Scan(&h.id, &h.pickup)
	if errors.Is(err, pgx.ErrNoRows) {
		return hold{}, nil
	}
	return h, err
}

// heldFor is the reservation first in the item's queue (an item hold or a
// captured title hold), zero if none holds it. The copy goes to its pickup
// library: in transit, when that is not where it is.
func heldFor(ctx context.Context, q Querier, itemID string) (hold, error) {
	var h hold
	err := q.QueryRow(ctx, `SELECT id::text, pickup_library_id::text FROM reservations
		WHERE item_id = $1 AND status = 'active' ORDER BY `+queueOrder+` LIMIT 1`, itemID).Scan(&h.id, &h.pickup)
	if errors.Is(err, pgx.ErrNoRows) {
		return hold{}, nil
	}
	return h, err
}

// whereNow says where the copy it goes as things stand (for replays): to
// the first hold in its queue, if any (Item, Reserved, PickupLibraryID).
func whereNow(ctx context.Context, q Querier, it Item) (CheckInResult, error) {
	h, err := heldFor(ctx, q, it.ID)
	return CheckInResult{Item: it, Reserved: h.id != "", PickupLibraryID: h.pickup}, err
}

// lockHeldFor is heldFor for a check-in or a checkout: it locks the first
// hold, so that a cancel either finishes first, and the next hold takes
// the copy (PostgreSQL re-checks a row whose lock it waited for and, if
// it no longer matches, locks the next one), or waits until the copy is
// placed and then cancels a hold whose copy is on the hold shelf, where
// ExpireReservations lists it to clear.
func lockHeldFor(ctx context.Context, tx Querier, itemID string) (hold, error) {
	var h hold
	err := tx.QueryRow(ctx, `SELECT id::text, pickup_library_id::text, patron_id::text FROM reservations
		WHERE item_id = $1 AND status = 'active' ORDER BY `+queueOrder+` LIMIT 1 FOR UPDATE`, itemID).Scan(&h.id, &h.pickup, &h.patron)
	if errors.Is(err, pgx.ErrNoRows) {
		return hold{}, nil
	}
	return h, err
}

// shelve puts the copy on the pickup library's hold shelf for hold h: it
// is ready now and waits the library's pickup_days from now (in 24-hour
// days, like every other period here, whatever the session's time zone).
// A copy already on the shelf for h keeps its time.
func shelve(ctx context.Context, tx Querier, h hold, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE reservations r SET ready_at = $2::timestamptz,
		expires_at = $2::timestamptz + make_interval(hours => 24 * s.pickup_days)
		FROM library_settings s WHERE r.id = $1 AND s.library_id = r.pickup_library_id AND r.status = 'active' AND r.ready_at IS NULL`, h.id, now)
	return err
}

// unshelve ends hold h's wait on the shelf when its copy leaves it (sent
// into transit from another library's desk): not ready, nor notified,
// until it is shelved again.
func unshelve(ctx context.Context, tx Querier, h hold) error {
	_, err := tx.Exec(ctx, `UPDATE reservations SET ready_at = NULL, notified_at = NULL WHERE id = $1 AND ready_at IS NOT NULL`, h.id)
	return err
}

// CancelReservation cancels the active reservation id. Staff pass their
// library (the pickup library must match); a patron passes their own id.
func CancelReservation(ctx context.Context, tx Querier, id, library, patronID string, now time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE reservations SET status = 'cancelled', finished_at = $2
		WHERE id = $1 AND status = 'active'
		AND ($3 = '' OR pickup_library_id = nullif($3, '')::uuid)
		AND ($4 = '' OR patron_id = nullif($4, '')::uuid)`, id, now, library, patronID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrReservationGone
	}
	return nil
}

// Expiry is what expiring a library's reservations found: how many
// expired, and the copies on its hold shelf that no ready hold is for any
// more (by barcode), to be checked in: each goes to the next hold or back
// to the stacks.
type Expiry struct {
	Count   int
	ToClear []Item
}

// The statements of ExpireReservations, for library $1 at time $2 (served
// by migration 00019's partial indexes: TestShelfReadsByIndex).
const (
	expireSQL = `UPDATE reservations SET status = 'expired', finished_at = $2
		WHERE pickup_library_id = $1 AND status = 'active' AND expires_at <= $2`
	toClearSQL = `SELECT ` + itemCols + ` FROM items i WHERE i.hold_shelf_library_id = $1
		AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.item_id = i.id AND r.status = 'active' AND r.ready_at IS NOT NULL)
		ORDER BY i.barcode`
)

// ExpireReservations expires the library's active reservations whose
// expiry time is not after now, and lists the copies its hold shelf holds
// for nobody any more: their hold expired (now or before), was cancelled,
// or its patron borrowed another copy of the title. Both steps can be
// repeated: a copy stays listed until a check-in takes it off the shelf.
func ExpireReservations(ctx context.Context, tx Querier, library string, now time.Time) (Expiry, error) {
	tag, err := tx.Exec(ctx, expireSQL, library, now)
	if err != nil {
		return Expiry{}, err
	}
	items, err := collectItems(tx.Query(ctx, toClearSQL, library))
	return Expiry{Count: int(tag.RowsAffected()), ToClear: items}, err
}
