package circulation

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/store"
)

// Reservation is an active reservation (hold) of an item.
type Reservation struct {
	ID              string
	Item            Item
	PatronID        string
	PickupLibraryID string
	PlacedAt        time.Time
	ExpiresAt       time.Time
	// QueuePosition is 1 for the first patron waiting for the item.
	QueuePosition int
}

const activeReservationSelect = `SELECT r.id::text, ` + itemCols + `, r.patron_id::text, r.pickup_library_id::text,
		r.placed_at, r.expires_at,
		(SELECT count(*) FROM reservations q WHERE q.item_id = r.item_id AND q.status = 'active'
			AND (q.placed_at, q.id) <= (r.placed_at, r.id))
	FROM reservations r JOIN items i ON i.id = r.item_id
	WHERE r.status = 'active'`

func scanReservation(row pgx.Row) (Reservation, error) {
	var r Reservation
	err := row.Scan(&r.ID, &r.Item.ID, &r.Item.Barcode, &r.Item.Title, &r.Item.OwningLibraryID, &r.Item.Status,
		&r.PatronID, &r.PickupLibraryID, &r.PlacedAt, &r.ExpiresAt, &r.QueuePosition)
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
	set, err := LibrarySettings(ctx, tx, library)
	if err != nil {
		return Reservation{}, err
	}
	if err := checkBorrower(ctx, tx, patronID, set, now); err != nil {
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
	if expires.IsZero() {
		expires = now.Add(set.ReservationPeriod)
	}
	if !expires.After(now) {
		return Reservation{}, errExpiryInPast
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

// takeReservation lets a checkout go ahead only if nobody else is first in
// the item's queue, and fulfils the borrower's own reservation.
func takeReservation(ctx context.Context, tx Querier, itemID, patronID string, now time.Time) error {
	var id, first string
	err := tx.QueryRow(ctx, `SELECT id::text, patron_id::text FROM reservations
		WHERE item_id = $1 AND status = 'active' ORDER BY placed_at, id LIMIT 1 FOR UPDATE`, itemID).Scan(&id, &first)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if first != patronID {
		return ErrItemReserved
	}
	_, err = tx.Exec(ctx, `UPDATE reservations SET status = 'fulfilled', finished_at = $2 WHERE id = $1`, id, now)
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

// ExpireReservations expires the library's active reservations whose expiry
// time is before now and returns how many.
func ExpireReservations(ctx context.Context, q Querier, library string, now time.Time) (int, error) {
	tag, err := q.Exec(ctx, `UPDATE reservations SET status = 'expired', finished_at = $2
		WHERE pickup_library_id = $1 AND status = 'active' AND expires_at <= $2`, library, now)
	return int(tag.RowsAffected()), err
}
