-- The lower() name indexes of migration 00002 served the first name
-- search; since migration 00010 patron.Search matches and orders names by
-- their keys (patron_name_key) through patrons_name_order_idx and
-- patrons_first_name_order_idx, with extended statistics for the planner.
-- Nothing reads these two any more, and every patron insert or name
-- change paid for them.

-- +goose Up
DROP INDEX patrons_last_name_idx;
DROP INDEX patrons_first_name_idx;

-- +goose Down
CREATE INDEX patrons_last_name_idx ON patrons (lower(last_name) text_pattern_ops);
CREATE INDEX patrons_first_name_idx ON patrons (lower(first_name) text_pattern_ops);
