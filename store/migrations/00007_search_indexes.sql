-- Name search in result order (issue 8, docs/performance.md): patron.Search
-- reads the patrons whose last name starts with a prefix in the order it
-- returns them (lower last name, lower first name, id) and stops once a
-- page of visible patrons is full, instead of fetching every patron whose
-- name starts with the prefix and sorting them. The included columns are
-- everything the search and the visibility filter read from patrons, so
-- the scan is index-only; anonymised records are never searched.
--
-- The key uses the database's default collation, so it serves the ORDER BY
-- of every search; it serves LIKE 'prefix%' ranges when that collation is
-- C (as in the clusters pglocal creates). Under another collation the
-- search returns the same rows in the same order, slower.

-- +goose Up
CREATE INDEX patrons_name_order_idx ON patrons (lower(last_name), lower(first_name), id)
  INCLUDE (last_name, first_name, home_library_id, archived_at, anonymised_at)
  WHERE anonymised_at IS NULL;

-- +goose Down
DROP INDEX patrons_name_order_idx;
