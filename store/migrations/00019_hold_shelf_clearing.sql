-- Clearing the hold shelf. A reservation that expires or is cancelled
-- while its copy waits on the pickup library's hold shelf leaves the copy
-- there; the library's next clearing (ExpireReservations) routes it to the
-- next hold or back to the stacks and sets cleared_at, so that each copy
-- is cleared once, and a retry of the clearing can list it again. The
-- partial indexes hold only the reservations still to clear and the
-- active ones by pickup library and expiry (what the clearing expires):
-- a small part of a table that keeps a year of history.

-- +goose Up
ALTER TABLE reservations
  ADD COLUMN cleared_at timestamptz,
  ADD CONSTRAINT reservations_cleared_was_ready
    CHECK (cleared_at IS NULL OR (ready_at IS NOT NULL AND status IN ('expired', 'cancelled')));
CREATE INDEX reservations_to_clear_idx ON reservations (pickup_library_id)
  WHERE ready_at IS NOT NULL AND cleared_at IS NULL AND status IN ('expired', 'cancelled');
CREATE INDEX reservations_active_pickup_idx ON reservations (pickup_library_id, expires_at) WHERE status = 'active';

-- +goose Down
DROP INDEX reservations_active_pickup_idx;
DROP INDEX reservations_to_clear_idx;
ALTER TABLE reservations DROP CONSTRAINT reservations_cleared_was_ready, DROP COLUMN cleared_at;
