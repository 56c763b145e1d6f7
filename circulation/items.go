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
}

// Item statuses as stored.
const (
	ItemAvailable = "available"
	ItemOnLoan    = "on_loan"
	ItemMissing   = "missing"
	ItemWithdrawn = "withdrawn"
)

// Item is a lendable copy.
type Item struct {
	ID, Barcode, Title, OwningLibraryID, Status string
}

const itemCols = `i.id::text, i.barcode, i.title, i.owning_library_id::text, i.status`

func scanItem(row pgx.Row) (Item, error) {
	var it Item
	err := row.Scan(&it.ID, &it.Barcode, &it.Title, &it.OwningLibraryID, &it.Status)
	return it, err
}

// CreateItem adds an item owned by library.
func CreateItem(ctx context.Context, q Querier, library, barcode, title string, now time.Time) (Item, error) {
	return scanItem(q.QueryRow(ctx, `
		INSERT INTO items AS i (barcode, title, owning_library_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING `+itemCols, barcode, title, library, now))
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
		Scan(&it.ID, &it.Barcode, &it.Title, &it.OwningLibraryID, &it.Status, &patron)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, "", ErrItemNotFound
	}
	if err != nil || patron == nil {
		return it, "", err
	}
	return it, *patron, nil
}
