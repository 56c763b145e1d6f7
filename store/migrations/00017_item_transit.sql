-- Items in transit between member libraries. A title hold captures the
-- first copy checked in at any library, and an item hold's copy may come
-- back anywhere; when the hold's pickup library is another, the copy
-- travels there. transit_to_library_id is where it is going, set by the
-- check-in that sent it and cleared by the check-in (or checkout) at its
-- destination. The item stays 'available' in status: held for its hold,
-- lendable nowhere else until it arrives.

-- +goose Up
ALTER TABLE items
  ADD COLUMN transit_to_library_id uuid REFERENCES libraries (id),
  ADD COLUMN transit_since timestamptz,
  ADD CONSTRAINT items_transit_pair CHECK ((transit_to_library_id IS NULL) = (transit_since IS NULL)),
  ADD CONSTRAINT items_transit_available CHECK (transit_to_library_id IS NULL OR status = 'available');
-- What a desk is to receive (ListTransits): the few copies on their way.
CREATE INDEX items_transit_idx ON items (transit_to_library_id, transit_since, id) WHERE transit_to_library_id IS NOT NULL;

-- +goose Down
DROP INDEX items_transit_idx;
ALTER TABLE items
  DROP CONSTRAINT items_transit_available,
  DROP CONSTRAINT items_transit_pair,
  DROP COLUMN transit_since,
  DROP COLUMN transit_to_library_id;
