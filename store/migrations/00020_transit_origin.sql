-- Where a copy in transit was sent from: the library whose check-in sent
-- it (or sent it on, when its hold changed on the way). The sending desk
-- lists what it has sent and not yet seen arrive (ListTransits, outgoing),
-- as Koha's transfers list does. Copies sent before this migration have no
-- origin and are listed only at their destination.

-- +goose Up
ALTER TABLE items
  ADD COLUMN transit_from_library_id uuid REFERENCES libraries (id),
  ADD CONSTRAINT items_transit_from CHECK (transit_from_library_id IS NULL OR transit_to_library_id IS NOT NULL);
CREATE INDEX items_transit_from_idx ON items (transit_from_library_id, transit_since, id) WHERE transit_from_library_id IS NOT NULL;

-- +goose Down
DROP INDEX items_transit_from_idx;
ALTER TABLE items DROP CONSTRAINT items_transit_from, DROP COLUMN transit_from_library_id;
