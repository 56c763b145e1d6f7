-- The finished reservations retention may still anonymise (with a
-- patron), in the order they fall due. Like the loans step since
-- migration 00015, the reservations step walks them by (finished_at, id)
-- and stops at the latest cutoff of any library, so a run reads only the
-- reservations that are due instead of every finished one in id order
-- (on the generated consortium's 0.65 M reservations: 2.8 s per run with
-- nothing to do, docs/performance.md, optimisation 27). A reservation
-- leaves the index when it is anonymised.

-- +goose Up
CREATE INDEX reservations_retention_idx ON reservations (finished_at, id)
  WHERE patron_id IS NOT NULL AND status <> 'active';

-- +goose Down
DROP INDEX reservations_retention_idx;
