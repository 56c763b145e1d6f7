-- Patrons (issue 4): the rest of the patron record (privacy-rules §1), the
-- encrypted identifiers, and the patron's consents with their history.
--
-- Identity columns are nullable in the database because anonymisation
-- (retention, §3) clears them; the API requires them at registration.

-- +goose Up

ALTER TABLE patrons
  -- Basic identity (required at registration).
  ADD COLUMN first_name         text CONSTRAINT patrons_first_name_check CHECK (length(first_name) BETWEEN 1 AND 100),
  ADD COLUMN last_name          text CONSTRAINT patrons_last_name_check CHECK (length(last_name) BETWEEN 1 AND 100),
  ADD COLUMN birth_date         date,
  ADD COLUMN permanent_address  text CONSTRAINT patrons_permanent_address_check CHECK (length(permanent_address) BETWEEN 1 AND 500),
  ADD COLUMN contact_address    text CONSTRAINT patrons_contact_address_check CHECK (length(contact_address) BETWEEN 1 AND 500),
  -- Optional contact data: kept only while the patron consents (checked
  -- below, so no code path can keep it without consent).
  ADD COLUMN email              text CONSTRAINT patrons_email_check CHECK (length(email) BETWEEN 3 AND 254),
  ADD COLUMN phone              text CONSTRAINT patrons_phone_check CHECK (phone ~ '^\+?[0-9 ()-]{5,32}$'),
  ADD COLUMN academic_titles    text CONSTRAINT patrons_academic_titles_check CHECK (length(academic_titles) BETWEEN 1 AND 100),
  ADD COLUMN optional_data_consent     boolean NOT NULL DEFAULT false,
  ADD COLUMN optional_data_consent_at  timestamptz,
  -- Service data.
  ADD COLUMN category           text NOT NULL DEFAULT 'adult'
                                  CONSTRAINT patrons_category_check CHECK (category ~ '^[a-z][a-z0-9_]{1,31}$'),
  ADD COLUMN registered_at      timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN last_activity_at   timestamptz,
  ADD COLUMN mother_tongue      text CONSTRAINT patrons_mother_tongue_check CHECK (mother_tongue ~ '^[a-z]{2,3}$'),
  -- Legal guardian of a minor: identity and contact.
  ADD COLUMN guardian_name      text CONSTRAINT patrons_guardian_name_check CHECK (length(guardian_name) BETWEEN 1 AND 200),
  ADD COLUMN guardian_address   text CONSTRAINT patrons_guardian_address_check CHECK (length(guardian_address) BETWEEN 1 AND 500),
  ADD COLUMN guardian_phone     text CONSTRAINT patrons_guardian_phone_check CHECK (guardian_phone ~ '^\+?[0-9 ()-]{5,32}$'),
  ADD COLUMN guardian_email     text CONSTRAINT patrons_guardian_email_check CHECK (length(guardian_email) BETWEEN 3 AND 254),
  -- Special-category (health) markers, e.g. registered for accessible media.
  ADD COLUMN special_categories text[] NOT NULL DEFAULT '{}'
                                  CONSTRAINT patrons_special_categories_check CHECK (special_categories <@ ARRAY['accessible_media']::text[]),
  -- Optimistic concurrency: every change of the record bumps it.
  ADD COLUMN version            bigint NOT NULL DEFAULT 1,
  -- Retention (§3): archived accounts are not usable for service;
  -- anonymised ones have lost their personal data.
  ADD COLUMN archived_at        timestamptz,
  ADD COLUMN anonymised_at      timestamptz,
  ADD CONSTRAINT patrons_optional_data_needs_consent
    CHECK (optional_data_consent OR (email IS NULL AND phone IS NULL AND academic_titles IS NULL)),
  ADD CONSTRAINT patrons_optional_data_consent_time
    CHECK (optional_data_consent = (optional_data_consent_at IS NOT NULL)),
  ADD CONSTRAINT patrons_guardian_named
    CHECK (guardian_name IS NOT NULL OR (guardian_address IS NULL AND guardian_phone IS NULL AND guardian_email IS NULL));

-- Name search: each word must start the first or the last name.
CREATE INDEX patrons_last_name_idx ON patrons (lower(last_name) text_pattern_ops);
CREATE INDEX patrons_first_name_idx ON patrons (lower(first_name) text_pattern_ops);
CREATE INDEX patrons_birth_date_idx ON patrons (birth_date);

-- National identifiers and the ID document number (§1): AES-GCM ciphertext
-- bound to (patron, kind) by its AAD, the id of the key that sealed it (for
-- rotation), and a keyed blind index for exact-match lookup. Nothing here
-- can be searched by prefix or range, by design.
CREATE TABLE patron_identifiers (
  patron_id    uuid NOT NULL REFERENCES patrons (id) ON DELETE CASCADE,
  kind         text NOT NULL CONSTRAINT patron_identifiers_kind_check
                 CHECK (kind IN ('personal_identity_number', 'coordination_number', 'lma_number', 'ssn', 'id_document')),
  ciphertext   bytea NOT NULL,
  key_id       text NOT NULL,
  blind_index  bytea NOT NULL CHECK (octet_length(blind_index) = 32),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (patron_id, kind)
);
-- A national identifier names one person: two patron records with the same
-- one are the same patron registered twice. (ID documents are not unique:
-- a document number may be reissued by another country.)
CREATE UNIQUE INDEX patron_identifiers_national_key ON patron_identifiers (kind, blind_index)
  WHERE kind <> 'id_document';
CREATE INDEX patron_identifiers_lookup_idx ON patron_identifiers (blind_index);
-- Key rotation finds rows sealed under an old key.
CREATE INDEX patron_identifiers_key_idx ON patron_identifiers (key_id);

-- Consents in force to share the patron record with another member library
-- (§2.2). A row exists exactly while the consent holds; the history is in
-- consent_events. Read on every request, never cached, so a withdrawal
-- takes effect at once at every replica.
CREATE TABLE consents (
  patron_id   uuid NOT NULL REFERENCES patrons (id) ON DELETE CASCADE,
  library_id  uuid NOT NULL CONSTRAINT consents_library_id_fkey REFERENCES libraries (id),
  granted_at  timestamptz NOT NULL,
  method      text NOT NULL CHECK (method IN ('in_person', 'web')),
  PRIMARY KEY (patron_id, library_id)
);
-- The visibility filter asks "has this patron consented to library L".
CREATE INDEX consents_library_idx ON consents (library_id, patron_id);

-- Every grant and withdrawal, of either scope: when, how and by whom.
CREATE TABLE consent_events (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  patron_id         uuid NOT NULL REFERENCES patrons (id) ON DELETE CASCADE,
  at                timestamptz NOT NULL,
  scope             text NOT NULL CHECK (scope IN ('share', 'optional_data')),
  library_id        uuid CONSTRAINT consent_events_library_id_fkey REFERENCES libraries (id),
  granted           boolean NOT NULL,
  method            text NOT NULL CHECK (method IN ('in_person', 'web')),
  actor_kind        text NOT NULL CHECK (actor_kind IN ('patron', 'staff')),
  actor_id          uuid NOT NULL,
  actor_library_id  uuid,
  request_id        text NOT NULL DEFAULT '',
  CONSTRAINT consent_events_scope_library CHECK ((scope = 'share') = (library_id IS NOT NULL))
);
CREATE INDEX consent_events_patron_idx ON consent_events (patron_id, id);

GRANT SELECT, INSERT, UPDATE, DELETE ON patron_identifiers, consents, consent_events TO patronfed_app;

-- +goose Down
DROP TABLE consent_events;
DROP TABLE consents;
DROP TABLE patron_identifiers;
DROP INDEX patrons_birth_date_idx;
DROP INDEX patrons_first_name_idx;
DROP INDEX patrons_last_name_idx;
ALTER TABLE patrons
  DROP CONSTRAINT patrons_guardian_named,
  DROP CONSTRAINT patrons_optional_data_consent_time,
  DROP CONSTRAINT patrons_optional_data_needs_consent,
  DROP COLUMN anonymised_at,
  DROP COLUMN archived_at,
  DROP COLUMN version,
  DROP COLUMN special_categories,
  DROP COLUMN guardian_email,
  DROP COLUMN guardian_phone,
  DROP COLUMN guardian_address,
  DROP COLUMN guardian_name,
  DROP COLUMN mother_tongue,
  DROP COLUMN last_activity_at,
  DROP COLUMN registered_at,
  DROP COLUMN category,
  DROP COLUMN optional_data_consent_at,
  DROP COLUMN optional_data_consent,
  DROP COLUMN academic_titles,
  DROP COLUMN phone,
  DROP COLUMN email,
  DROP COLUMN contact_address,
  DROP COLUMN permanent_address,
  DROP COLUMN birth_date,
  DROP COLUMN last_name,
  DROP COLUMN first_name;
