-- Name search at a library that sees few patrons (issue 8,
-- docs/performance.md, section 3):
--
-- patrons_first_name_order_idx holds the patrons in result order (lower
-- last name, lower first name, id) within each pair of first letters of
-- the first name. patron.Search answers the branch "every word starts the
-- first name" from it as an ordered range scan that stops once a page is
-- full, instead of walking patrons_name_order_idx (the whole patron base
-- when few of the patrons with that first name are visible) or sorting
-- every patron with the first name. Index-only like
-- patrons_name_order_idx: the included columns are everything the search
-- and the visibility filter read. The leading key is matched by equality,
-- so the index serves that branch under any collation.
--
-- loans_active_lender_idx lets the search read a library's active loans
-- (who borrows there) from the index alone, to hash them once per query
-- (patron.PlanHashed) instead of probing loans_active_patron_idx for every
-- patron considered.

-- +goose Up
CREATE INDEX patrons_first_name_order_idx
  ON patrons (left(lower(first_name), 2), lower(last_name), lower(first_name), id)
  INCLUDE (last_name, first_name, home_library_id, archived_at, anonymised_at)
  WHERE anonymised_at IS NULL;
CREATE INDEX loans_active_lender_idx ON loans (lending_library_id, patron_id) WHERE returned_at IS NULL;

-- +goose Down
DROP INDEX loans_active_lender_idx;
DROP INDEX patrons_first_name_order_idx;
