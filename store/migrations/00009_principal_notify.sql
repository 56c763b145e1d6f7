-- Principal cache invalidation (package principals, docs/performance.md):
-- the authentication interceptor caches the account or patron row behind a
-- token and drops it when one of these triggers notifies the row's id.
-- Only the columns a principal is built from matter: kind, username,
-- library and roles of an account and whether it is disabled; a patron's
-- home library and whether the record is archived or anonymised.
-- Notifications are delivered on commit; the payload is an id, nothing
-- personal.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION notify_principal_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('patronfed_principals', OLD.id::text);
  RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER accounts_principal_update AFTER UPDATE ON accounts FOR EACH ROW
  WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.username IS DISTINCT FROM NEW.username
        OR OLD.library_id IS DISTINCT FROM NEW.library_id OR OLD.roles IS DISTINCT FROM NEW.roles
        OR OLD.disabled_at IS DISTINCT FROM NEW.disabled_at OR OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION notify_principal_change();
CREATE TRIGGER accounts_principal_delete AFTER DELETE ON accounts FOR EACH ROW
  EXECUTE FUNCTION notify_principal_change();

CREATE TRIGGER patrons_principal_update AFTER UPDATE ON patrons FOR EACH ROW
  WHEN (OLD.home_library_id IS DISTINCT FROM NEW.home_library_id OR OLD.archived_at IS DISTINCT FROM NEW.archived_at
        OR OLD.anonymised_at IS DISTINCT FROM NEW.anonymised_at OR OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION notify_principal_change();
CREATE TRIGGER patrons_principal_delete AFTER DELETE ON patrons FOR EACH ROW
  EXECUTE FUNCTION notify_principal_change();

-- +goose Down
DROP TRIGGER patrons_principal_delete ON patrons;
DROP TRIGGER patrons_principal_update ON patrons;
DROP TRIGGER accounts_principal_delete ON accounts;
DROP TRIGGER accounts_principal_update ON accounts;
DROP FUNCTION notify_principal_change();
