-- The hold shelf. When a reserved copy is on the shelf at its pickup
-- library (checked in there, or received there from transit), its patron
-- has pickup_days from that moment to collect it, whatever expiry the
-- reservation was placed with (Koha's ReservesMaxPickUpDelay): a copy that
-- arrives late still leaves time, and one nobody collects does not wait
-- for weeks while others queue. ready_at records that moment; a captured
-- title hold that loses its copy waits again and is no longer ready.

-- +goose Up
ALTER TABLE library_settings
  ADD COLUMN pickup_days integer NOT NULL DEFAULT 7 CHECK (pickup_days BETWEEN 1 AND 30);
ALTER TABLE reservations
  ADD COLUMN ready_at timestamptz,
  ADD CONSTRAINT reservations_ready_has_item CHECK (ready_at IS NULL OR item_id IS NOT NULL);

-- +goose Down
ALTER TABLE reservations DROP CONSTRAINT reservations_ready_has_item, DROP COLUMN ready_at;
ALTER TABLE library_settings DROP COLUMN pickup_days;
