-- Clearing the hold shelf. The hold shelf is a place: items.hold_shelf_library_id
-- is the library on whose hold shelf the copy waits (set when a check-in
-- shelves it for a hold there; cleared when it is lent, sent into transit,
-- lost, or checked in again with no hold left for it). A copy on a shelf
-- that no ready hold is for any more (the hold expired, was cancelled, or
-- its patron borrowed another copy of the title) is to be cleared: the
-- pickup library lists those copies (ExpireReservations) and checks each
-- in, which sends it to the next hold or back to the stacks. The partial
-- indexes hold the copies on a shelf and the active reservations by pickup
-- library and expiry (what ExpireReservations expires).

-- +goose Up
ALTER TABLE items
  ADD COLUMN hold_shelf_library_id uuid REFERENCES libraries (id),
  ADD CONSTRAINT items_hold_shelf_available
    CHECK (hold_shelf_library_id IS NULL OR (status = 'available' AND transit_to_library_id IS NULL));
UPDATE items i SET hold_shelf_library_id = r.pickup_library_id FROM reservations r
  WHERE r.item_id = i.id AND r.status = 'active' AND r.ready_at IS NOT NULL
  AND i.status = 'available' AND i.transit_to_library_id IS NULL;
CREATE INDEX items_hold_shelf_idx ON items (hold_shelf_library_id, barcode) WHERE hold_shelf_library_id IS NOT NULL;
CREATE INDEX reservations_active_pickup_idx ON reservations (pickup_library_id, expires_at) WHERE status = 'active';

-- +goose Down
DROP INDEX reservations_active_pickup_idx;
DROP INDEX items_hold_shelf_idx;
ALTER TABLE items DROP CONSTRAINT items_hold_shelf_available, DROP COLUMN hold_shelf_library_id;
