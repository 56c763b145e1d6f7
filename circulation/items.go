package circulation

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/store"
)

func init() {
	store.RegisterConstraint("items_barcode_key", "barcode", "an item with this barcode already exists")
	store.RegisterConstraint("items_barcode_check", "barcode", "barcode must be 4-32 letters, digits or dashes")
	store.RegisterConstraint("items_title_check", "title", "title must be 1-500 characters")
	store.RegisterConstraint("items_record_id_check", "record_id",
		"record_id must be 1-64 printable characters without leading or trailing spaces")
}

// Item statuses as stored.
const (
	ItemAvailable = "available"
	ItemOnLoan    = "on_loan"
	ItemMissing   = "missing"
	ItemWithdrawn = "withdrawn"
)

// Item is a lendable copy. RecordID is the catalogue record it is a copy
// of ("" if not known): a hold on that record can be served by it.
// TransitToLibraryID is the library the copy is travelling to for a hold
// ("" when it is not in transit), TransitFromLibraryID the one that sent
// it ("" also for a copy sent before migration 00020). HoldShelfLibraryID
// is the library on whose hold shelf the copy waits ("" when it does not).
type Item struct {
	ID, Barcode, Title, OwningLibraryID, Status, RecordID string
	TransitToLibraryID, TransitFromLibraryID              string
	HoldShelfLibraryID                                    string
}

// itemCols are the columns of Item, read from items i. The coalesces let
// the same list read an outer-joined item that is not there (all "").
const itemCols = `coalesce(i.id::text, ''), coalesce(i.barcode, ''), coalesce(i.title, ''),
	coalesce(i.owning_library_id::text, ''), coalesce(i.status, ''), coalesce(i.record_id, ''),
	coalesce(i.transit_to_library_id::text, ''), coalesce(i.transit_from_library_id::text, ''),
	coalesce(i.hold_shelf_library_id::text, '')`

// dest are the scan destinations of itemCols.
func (it *Item) dest() []any {
	return []any{&it.ID, &it.Barcode, &it.Title, &it.OwningLibraryID, &it.Status, &it.RecordID, &it.TransitToLibraryID,
		&it.TransitFromLibraryID, &it.HoldShelfLibraryID}
}

func scanItem(row pgx.Row) (Item, error) {
	var it Item
	err := row.Scan(it.dest()...)
	return it, err
}

func collectItems(rows pgx.Rows, err error) ([]Item, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) { return scanItem(r) })
}

// CreateItem adds an item owned by library, a copy of the catalogue record
// recordID ("" if not known).
func CreateItem(ctx context.Context, q Querier, library, barcode, title, recordID string, now time.Time) (Item, error) {
	return scanItem(q.QueryRow(ctx, `
		INSERT INTO items AS i (barcode, title, owning_library_id, record_id, created_at, updated_at)
		VALUES ($1, $2, $3, nullif($4, ''), $5, $5) RETURNING `+itemCols, barcode, title, library, recordID, now))
}

// ItemChange is what UpdateItem changes; nil fields stay as they are.
type ItemChange struct {
	Title *string
	// RecordID "" clears the record.
	RecordID *string
	// Status is ItemAvailable, ItemMissing or ItemWithdrawn.
	Status *string
}

// UpdateItem changes the item with barcode, owned by library. An item on
// loan keeps its status (loans change it), and one that an item hold waits
// for cannot go missing or be withdrawn: the holds must be cancelled first,
// so that nobody waits for a copy that will not come. A title hold captured
// for the copy goes back to its title's queue when the copy goes missing,
// is withdrawn or becomes a copy of another record: another copy serves it.
func UpdateItem(ctx context.Context, tx Querier, library, barcode string, ch ItemChange, now time.Time) (Item, error) {
	it, err := lockItem(ctx, tx, barcode)
	if err != nil {
		return Item{}, err
	}
	if it.OwningLibraryID != library {
		return Item{}, ErrNotOwningLib
	}
	statusChange := ch.Status != nil && *ch.Status != it.Status
	if statusChange && it.Status == ItemOnLoan {
		return Item{}, ErrItemOnLoanStatus
	}
	gone := statusChange && (*ch.Status == ItemMissing || *ch.Status == ItemWithdrawn)
	if gone {
		var held int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM reservations WHERE item_id = $1 AND status = 'active' AND record_id IS NULL`,
			it.ID).Scan(&held); err != nil {
			return Item{}, err
		}
		if held > 0 {
			return Item{}, itemHeld(held)
		}
	}
	if gone || (ch.RecordID != nil && *ch.RecordID != it.RecordID) {
		if _, err := tx.Exec(ctx, `UPDATE reservations SET item_id = NULL, ready_at = NULL, notified_at = NULL
			WHERE item_id = $1 AND status = 'active' AND record_id IS NOT NULL`, it.ID); err != nil {
			return Item{}, err
		}
	}
	return scanItem(tx.QueryRow(ctx, `UPDATE items AS i SET title = coalesce($2, title),
			record_id = CASE WHEN $3::text IS NULL THEN record_id ELSE nullif($3, '') END,
			status = coalesce($4, status), updated_at = $5,
			-- A copy lost on its way is no longer travelling.
			transit_to_library_id = CASE WHEN $6 THEN NULL ELSE transit_to_library_id END,
			transit_since = CASE WHEN $6 THEN NULL ELSE transit_since END,
			transit_from_library_id = CASE WHEN $6 THEN NULL ELSE transit_from_library_id END,
			hold_shelf_library_id = CASE WHEN $6 THEN NULL ELSE hold_shelf_library_id END
		WHERE id = $1 RETURNING `+itemCols, it.ID, ch.Title, ch.RecordID, ch.Status, now, gone))
}

// Transit is a copy on its way to a library, sent at Since.
type Transit struct {
	Item  Item
	Since time.Time
}

// Transits lists the copies in transit to library, or (outgoing) the ones
// it sent that have not arrived yet, longest on the way first.
func Transits(ctx context.Context, q Querier, library string, outgoing bool, limit, offset int) ([]Transit, error) {
	col := "i.transit_to_library_id"
	if outgoing {
		col = "i.transit_from_library_id"
	}
	rows, err := q.Query(ctx, `SELECT `+itemCols+`, i.transit_since FROM items i
		WHERE `+col+` = $1 ORDER BY i.transit_since, i.id LIMIT $2 OFFSET $3`, library, limit, offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []Transit
	for rows.Next() {
		var t Transit
		if err := rows.Scan(append(t.Item.dest(), &t.Since)...); err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// ItemByBarcode returns the item, or ErrItemNotFound.
func ItemByBarcode(ctx context.Context, q Querier, barcode string) (Item, error) {
	return itemWhere(ctx, q, `SELECT `+itemCols+` FROM items i WHERE i.barcode = $1`, barcode)
}

// lockItem reads the item FOR UPDATE. Every change of an item's loan state
// locks the item row first, so concurrent checkouts and check-ins of one
// item run one after the other and always in the same lock order.
func lockItem(ctx context.Context, q Querier, barcode string) (Item, error) {
	return itemWhere(ctx, q, `SELECT `+itemCols+` FROM items i WHERE i.barcode = $1 FOR UPDATE`, barcode)
}

func itemWhere(ctx context.Context, q Querier, sql string, arg any) (Item, error) {
	it, err := scanItem(q.QueryRow(ctx, sql, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, ErrItemNotFound
	}
	return it, err
}

// LastBorrower returns the item and the id of the patron whose loan of it
// ended last ("" if none). It is the SPOK exception to history: it says
// who, and nothing about when or what else.
func LastBorrower(ctx context.Context, q Querier, barcode string) (Item, string, error) {
	var patron *string
	var it Item
	err := q.QueryRow(ctx, `SELECT `+itemCols+`, i.last_borrower_id::text FROM items i WHERE i.barcode = $1`, barcode).
		Scan(append(it.dest(), &patron)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, "", ErrItemNotFound
	}
	if err != nil || patron == nil {
		return it, "", err
	}
	return it, *patron, nil
}
