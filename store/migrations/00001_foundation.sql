-- Foundation: member libraries, personal staff and operator accounts, login
-- throttling, and the minimal patron/card rows needed for OPAC login (the
-- patrons migration adds the rest of the patron record).

-- +goose Up

-- The server connects as (or SET ROLEs to) patronfed_app, which may not
-- UPDATE or DELETE the audit log. Roles are cluster-wide, hence IF NOT EXISTS.
-- +goose StatementBegin
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'patronfed_app') THEN
    CREATE ROLE patronfed_app NOLOGIN;
  END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE libraries (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  code        text NOT NULL CONSTRAINT libraries_code_key UNIQUE
                CONSTRAINT libraries_code_check CHECK (code ~ '^[A-Z0-9_-]{2,16}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind           text NOT NULL CHECK (kind IN ('staff', 'operator')),
  username       text NOT NULL CONSTRAINT accounts_username_key UNIQUE
                   CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
  display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
  library_id     uuid REFERENCES libraries (id),
  roles          text[] NOT NULL DEFAULT '{}',
  password_hash  text NOT NULL,
  disabled_at    timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  -- Login trail: only the latest login is kept, overwritten each time.
  last_login_at  timestamptz,
  last_login_ip  inet,
  CONSTRAINT accounts_staff_library_check CHECK ((kind = 'staff') = (library_id IS NOT NULL))
);
CREATE INDEX accounts_library_idx ON accounts (library_id);

-- Per-library settings (privacy-rules §1 and §3). Where the sources differ
-- the difference is a setting; the defaults are the rules' values. A row is
-- created for every library by the trigger below.
CREATE TABLE library_settings (
  library_id                        uuid PRIMARY KEY REFERENCES libraries (id) ON DELETE CASCADE,
  -- Under this age a patron is a minor and needs a guardian (15 Slavonice, 18 Legimus).
  minor_age                         integer NOT NULL DEFAULT 15 CHECK (minor_age BETWEEN 15 AND 18),
  loan_period_days                  integer NOT NULL DEFAULT 28 CHECK (loan_period_days BETWEEN 1 AND 365),
  max_renewals                      integer NOT NULL DEFAULT 3 CHECK (max_renewals BETWEEN 0 AND 50),
  -- Fees in minor currency units (cents, haléře).
  overdue_fee_per_day               integer NOT NULL DEFAULT 500 CHECK (overdue_fee_per_day BETWEEN 0 AND 100000),
  fee_block_limit                   integer NOT NULL DEFAULT 50000 CHECK (fee_block_limit BETWEEN 0 AND 100000000),
  currency                          text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
  -- Retention (§3).
  history_retention_months          integer NOT NULL DEFAULT 12 CHECK (history_retention_months BETWEEN 1 AND 120),
  archive_after_months              integer NOT NULL DEFAULT 18 CHECK (archive_after_months BETWEEN 1 AND 120),
  anonymise_after_months            integer NOT NULL DEFAULT 24 CHECK (anonymise_after_months BETWEEN 1 AND 240),
  self_registration_retention_days  integer NOT NULL DEFAULT 30 CHECK (self_registration_retention_days BETWEEN 1 AND 365),
  audit_retention_months            integer NOT NULL DEFAULT 2 CHECK (audit_retention_months BETWEEN 1 AND 120),
  event_signup_retention_months     integer NOT NULL DEFAULT 3 CHECK (event_signup_retention_months BETWEEN 1 AND 120),
  -- Which optional fields (§1 optional contact data) the library collects.
  collect_email                     boolean NOT NULL DEFAULT true,
  collect_phone                     boolean NOT NULL DEFAULT true,
  collect_academic_titles           boolean NOT NULL DEFAULT true,
  updated_at                        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT library_settings_anonymise_after_archive CHECK (anonymise_after_months >= archive_after_months)
);

-- +goose StatementBegin
CREATE FUNCTION library_settings_default() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO library_settings (library_id) VALUES (NEW.id);
  RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER libraries_default_settings AFTER INSERT ON libraries
  FOR EACH ROW EXECUTE FUNCTION library_settings_default();

-- Failed-login throttling keyed by a hash of the login name, whether or not
-- the name exists, so a lockout does not reveal which accounts exist.
CREATE TABLE login_throttle (
  principal_hash   bytea PRIMARY KEY,
  failures         integer NOT NULL DEFAULT 0,
  locked_until     timestamptz,
  last_failure_at  timestamptz NOT NULL
);

CREATE TABLE patrons (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  home_library_id  uuid NOT NULL REFERENCES libraries (id),
  pin_hash         text,
  -- Patron login trail: the latest OPAC login only.
  last_login_at    timestamptz,
  last_login_ip    inet,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patrons_home_library_idx ON patrons (home_library_id);

CREATE TABLE cards (
  card_number  text PRIMARY KEY CHECK (card_number ~ '^[0-9A-Za-z]{4,32}$'),
  patron_id    uuid NOT NULL REFERENCES patrons (id) ON DELETE CASCADE,
  active       boolean NOT NULL DEFAULT true,
  issued_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);
CREATE INDEX cards_patron_idx ON cards (patron_id);
-- Several cards per patron, exactly one active.
CREATE UNIQUE INDEX cards_one_active_per_patron ON cards (patron_id) WHERE active;

-- Every table created by the migrating role is usable by the app role;
-- append-only tables (the audit log) REVOKE what the app may not do.
GRANT USAGE ON SCHEMA public TO patronfed_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON libraries, library_settings, accounts, login_throttle, patrons, cards TO patronfed_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO patronfed_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO patronfed_app;

-- +goose Down
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM patronfed_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM patronfed_app;
REVOKE USAGE ON SCHEMA public FROM patronfed_app;
DROP TABLE cards;
DROP TABLE patrons;
DROP TABLE login_throttle;
DROP TABLE accounts;
DROP TRIGGER libraries_default_settings ON libraries;
DROP FUNCTION library_settings_default();
DROP TABLE library_settings;
DROP TABLE libraries;
-- The role is cluster-wide and may be shared by other databases: keep it.
