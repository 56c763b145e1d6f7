-- The loans retention may still anonymise (returned, with a patron) in the
-- order they fall due. The retention run walks them by (returned_at, id)
-- and stops at the latest cutoff of any library, so an hourly run reads
-- only the loans that are due instead of every loan in id order (on 5 M
-- loans: 13.6 s per run with nothing to do, docs/performance.md,
-- optimisation 23). A loan leaves the index when it is anonymised.

-- +goose Up
CREATE INDEX loans_retention_idx ON loans (returned_at, id)
  WHERE patron_id IS NOT NULL AND returned_at IS NOT NULL;

-- +goose Down
DROP INDEX loans_retention_idx;
