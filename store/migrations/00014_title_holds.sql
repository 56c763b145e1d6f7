-- Holds on a title, not only on an item (Koha "next available", Evergreen
-- title holds). An item may name the catalogue record it is a copy of
-- (record_id, as the member library's ILS or the union catalogue names it);
-- a reservation names an item (item_id, as before) or a record (record_id).
-- At check-in the first copy of a record that no item hold waits for is
-- captured for the record's oldest active hold: the hold gets the copy in
-- item_id and keeps its record_id, and from then on queues, checkout and
-- renewal treat it as an item hold on that copy. A record id is not
-- personal data; retention and the patron's deletion of history cut the
-- patron from a finished record hold as from any reservation.

-- +goose Up
ALTER TABLE items
  ADD COLUMN record_id text CONSTRAINT items_record_id_check CHECK (record_id ~ '^[!-~]([ -~]{0,62}[!-~])?$');
-- The copies of a record: "is there a lendable copy", a title hold's title.
CREATE INDEX items_record_idx ON items (record_id) WHERE record_id IS NOT NULL;

ALTER TABLE reservations
  ALTER COLUMN item_id DROP NOT NULL,
  ADD COLUMN record_id text CONSTRAINT reservations_record_id_check CHECK (record_id ~ '^[!-~]([ -~]{0,62}[!-~])?$'),
  ADD CONSTRAINT reservations_item_or_record CHECK (item_id IS NOT NULL OR record_id IS NOT NULL);
-- A patron holds a record once while the hold is active (captured or not),
-- as an item once (reservations_one_active_per_patron_item).
CREATE UNIQUE INDEX reservations_one_active_per_patron_record ON reservations (record_id, patron_id)
  WHERE status = 'active' AND record_id IS NOT NULL;
-- The queue of a record: active holds still waiting for a copy, oldest
-- first (capture at check-in, queue position).
CREATE INDEX reservations_waiting_record_idx ON reservations (record_id, placed_at, id)
  WHERE status = 'active' AND item_id IS NULL;

-- +goose Down
DROP INDEX reservations_waiting_record_idx;
DROP INDEX reservations_one_active_per_patron_record;
-- Title holds that never got a copy cannot be kept without an item.
DELETE FROM circulation_requests WHERE result_id IN (SELECT id FROM reservations WHERE item_id IS NULL);
DELETE FROM reservations WHERE item_id IS NULL;
ALTER TABLE reservations
  DROP CONSTRAINT reservations_item_or_record,
  DROP COLUMN record_id,
  ALTER COLUMN item_id SET NOT NULL;
DROP INDEX items_record_idx;
ALTER TABLE items DROP COLUMN record_id;
