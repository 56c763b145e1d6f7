-- Changing a password or PIN ends the sessions opened with the old one.
-- Each account and patron has a credentials version, bumped by every
-- change; a token carries the version it was issued for (claim "cv") and
-- is refused once that is not the current one. The principal triggers of
-- 00009 now also notify this column, so that every replica's principal
-- cache learns the new version at once. A constant default adds the
-- column without rewriting the table. A password the operator has reset
-- is known to the operator, so the account is not personal again until
-- its owner changes it: must_change_password (bumped with the version)
-- holds every call but the change.

-- +goose Up
ALTER TABLE accounts ADD COLUMN credentials_version integer NOT NULL DEFAULT 0,
  ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
ALTER TABLE patrons ADD COLUMN credentials_version integer NOT NULL DEFAULT 0;
DROP TRIGGER accounts_principal_update ON accounts;
CREATE TRIGGER accounts_principal_update AFTER UPDATE ON accounts FOR EACH ROW
  WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.username IS DISTINCT FROM NEW.username
        OR OLD.library_id IS DISTINCT FROM NEW.library_id OR OLD.roles IS DISTINCT FROM NEW.roles
        OR OLD.disabled_at IS DISTINCT FROM NEW.disabled_at OR OLD.id IS DISTINCT FROM NEW.id
        OR OLD.credentials_version IS DISTINCT FROM NEW.credentials_version)
  EXECUTE FUNCTION notify_principal_change();
DROP TRIGGER patrons_principal_update ON patrons;
CREATE TRIGGER patrons_principal_update AFTER UPDATE ON patrons FOR EACH ROW
  WHEN (OLD.home_library_id IS DISTINCT FROM NEW.home_library_id OR OLD.archived_at IS DISTINCT FROM NEW.archived_at
        OR OLD.anonymised_at IS DISTINCT FROM NEW.anonymised_at OR OLD.id IS DISTINCT FROM NEW.id
        OR OLD.credentials_version IS DISTINCT FROM NEW.credentials_version)
  EXECUTE FUNCTION notify_principal_change();

-- +goose Down
DROP TRIGGER patrons_principal_update ON patrons;
CREATE TRIGGER patrons_principal_update AFTER UPDATE ON patrons FOR EACH ROW
  WHEN (OLD.home_library_id IS DISTINCT FROM NEW.home_library_id OR OLD.archived_at IS DISTINCT FROM NEW.archived_at
        OR OLD.anonymised_at IS DISTINCT FROM NEW.anonymised_at OR OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION notify_principal_change();
DROP TRIGGER accounts_principal_update ON accounts;
CREATE TRIGGER accounts_principal_update AFTER UPDATE ON accounts FOR EACH ROW
  WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.username IS DISTINCT FROM NEW.username
        OR OLD.library_id IS DISTINCT FROM NEW.library_id OR OLD.roles IS DISTINCT FROM NEW.roles
        OR OLD.disabled_at IS DISTINCT FROM NEW.disabled_at OR OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION notify_principal_change();
ALTER TABLE patrons DROP COLUMN credentials_version;
ALTER TABLE accounts DROP COLUMN must_change_password, DROP COLUMN credentials_version;
