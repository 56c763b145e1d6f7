-- Indexes of loans and reservations by patron and by item now hold only
-- rows that still name their patron (docs/performance.md, optimisation 24).
--
-- 1. Anonymising one patron (the rights desk, or retention's anonymise
--    step) cut the patron's loans with `WHERE patron_id = $1`. No index
--    covered a patron's loans whatever their state (loans_history_idx
--    held returned ones, loans_active_patron_idx active ones), so each of
--    three statements scanned the whole table: 0.87 s per patron at the
--    median on 5 M loans (3-4 ms now). loans_patron_idx covers every identified loan; history
--    readers (patron_id = $1 AND returned_at IS NOT NULL) use it as well.
--    The same holds for reservations.
-- 2. Retention's loan step sets patron_id NULL on a million loans; each
--    such update put new entries keyed by a NULL patron into the history
--    and item indexes that no reader asks for (every reader names a
--    patron). With the partial forms an anonymised loan gets an entry in
--    the primary key only: the step's UPDATE 25 -> 8.5 ms per 1 000
--    loans, and these indexes stop growing with the anonymous history.
--    Items are never deleted, so the foreign key from loans needs no
--    index of every loan.

-- +goose Up
CREATE INDEX loans_patron_idx ON loans (patron_id, returned_at DESC) WHERE patron_id IS NOT NULL;
DROP INDEX loans_history_idx;

CREATE INDEX loans_item_identified_idx ON loans (item_id) WHERE patron_id IS NOT NULL;
DROP INDEX loans_item_idx;
ALTER INDEX loans_item_identified_idx RENAME TO loans_item_idx;

CREATE INDEX reservations_patron_idx ON reservations (patron_id, finished_at DESC) WHERE patron_id IS NOT NULL;
DROP INDEX reservations_history_idx;

-- +goose Down
CREATE INDEX reservations_history_idx ON reservations (patron_id, finished_at DESC) WHERE status <> 'active';
DROP INDEX reservations_patron_idx;

CREATE INDEX loans_item_all_idx ON loans (item_id);
DROP INDEX loans_item_idx;
ALTER INDEX loans_item_all_idx RENAME TO loans_item_idx;

CREATE INDEX loans_history_idx ON loans (patron_id, returned_at DESC) WHERE returned_at IS NOT NULL;
DROP INDEX loans_patron_idx;
