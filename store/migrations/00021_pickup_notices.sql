-- The hold shelf list and pickup notices. The pickup library's desk lists
-- the reservations whose copies wait on its hold shelf (ListHoldShelf),
-- and its ILS, which sends the patron the "ready for pickup" notice by the
-- channel the patron chose, records that it did (MarkPickupNotified):
-- notified_at. A reservation whose copy leaves the shelf (a captured title
-- hold whose copy goes missing) is no longer ready, nor notified.

-- +goose Up
ALTER TABLE reservations
  ADD COLUMN notified_at timestamptz,
  ADD CONSTRAINT reservations_notified_when_ready CHECK (notified_at IS NULL OR ready_at IS NOT NULL);
-- The shelf of each library: the few active, ready reservations.
CREATE INDEX reservations_shelf_idx ON reservations (pickup_library_id, ready_at, id)
  WHERE status = 'active' AND ready_at IS NOT NULL;

-- +goose Down
DROP INDEX reservations_shelf_idx;
ALTER TABLE reservations DROP CONSTRAINT reservations_notified_when_ready, DROP COLUMN notified_at;
