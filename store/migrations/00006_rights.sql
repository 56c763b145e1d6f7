-- The patron's rights and retention (issue 7): self-registration requests
-- from the web catalogue, event sign-up sheets, access and erasure requests
-- with their 30-day deadline, and the written confirmations of erasures
-- (privacy-rules §1, §3, §4). Rows hold ids and dates; the only personal
-- data here is what a self-registration or a sign-up sheet itself collects,
-- and retention deletes it after its period.

-- +goose Up

-- Anonymisation keeps the consent history (when and how consents changed)
-- but cuts its link to the person: the patron, and the patron as actor.
ALTER TABLE consent_events
  ALTER COLUMN patron_id DROP NOT NULL,
  ALTER COLUMN actor_id DROP NOT NULL;

-- A request to register, made in the web catalogue before the patron visits
-- (SPOK). Name and address are required; phone, e-mail and username are
-- optional. Completing it at the desk creates the patron and clears the
-- personal fields here (the data now lives in the patron record); a request
-- still pending after the library's self_registration_retention_days is
-- deleted by retention, a rejected one at once.
CREATE TABLE self_registrations (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  library_id    uuid NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed')),
  first_name    text CONSTRAINT self_registrations_first_name_check CHECK (length(first_name) BETWEEN 1 AND 100),
  last_name     text CONSTRAINT self_registrations_last_name_check CHECK (length(last_name) BETWEEN 1 AND 100),
  address       text CONSTRAINT self_registrations_address_check CHECK (length(address) BETWEEN 1 AND 500),
  phone         text CONSTRAINT self_registrations_phone_check CHECK (phone ~ '^\+?[0-9 ()-]{5,32}$'),
  email         text CONSTRAINT self_registrations_email_check CHECK (length(email) BETWEEN 3 AND 254),
  username      text CONSTRAINT self_registrations_username_check CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
  requested_at  timestamptz NOT NULL,
  completed_at  timestamptz,
  completed_by  uuid REFERENCES accounts (id),
  patron_id     uuid REFERENCES patrons (id) ON DELETE CASCADE,
  CONSTRAINT self_registrations_pending_data CHECK (
    status <> 'pending' OR (first_name IS NOT NULL AND last_name IS NOT NULL AND address IS NOT NULL)),
  CONSTRAINT self_registrations_completed CHECK (
    (status = 'completed') = (patron_id IS NOT NULL AND completed_at IS NOT NULL))
);
CREATE INDEX self_registrations_pending_idx ON self_registrations (library_id, requested_at) WHERE status = 'pending';
CREATE INDEX self_registrations_patron_idx ON self_registrations (patron_id) WHERE patron_id IS NOT NULL;

-- Event sign-up sheets (Slavonice): deleted event_signup_retention_months
-- after the event. A sign-up names a patron or, for a guest, a name and a
-- contact.
CREATE TABLE event_signups (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  library_id  uuid NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
  event_name  text NOT NULL CONSTRAINT event_signups_event_name_check CHECK (length(event_name) BETWEEN 1 AND 200),
  event_date  date NOT NULL,
  patron_id   uuid REFERENCES patrons (id) ON DELETE CASCADE,
  name        text CONSTRAINT event_signups_name_check CHECK (length(name) BETWEEN 1 AND 200),
  contact     text CONSTRAINT event_signups_contact_check CHECK (length(contact) BETWEEN 1 AND 254),
  created_at  timestamptz NOT NULL,
  CONSTRAINT event_signups_who CHECK (patron_id IS NOT NULL OR name IS NOT NULL)
);
CREATE INDEX event_signups_date_idx ON event_signups (library_id, event_date);
CREATE INDEX event_signups_patron_idx ON event_signups (patron_id) WHERE patron_id IS NOT NULL;

-- Access and erasure requests (§4.1, §4.2): the home library must answer
-- within 30 days (due_at). library_id is the home library when the request
-- was made. An erasure refused because of open debts is closed as refused
-- with the reasons (no personal data in them).
CREATE TABLE rights_requests (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  patron_id          uuid NOT NULL REFERENCES patrons (id),
  library_id         uuid NOT NULL REFERENCES libraries (id),
  kind               text NOT NULL CHECK (kind IN ('access', 'erasure')),
  status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fulfilled', 'refused')),
  -- Who asked: the patron in the catalogue, or staff on the patron's behalf.
  requested_by_kind  text NOT NULL CHECK (requested_by_kind IN ('patron', 'staff')),
  requested_by       uuid REFERENCES accounts (id),
  requested_at       timestamptz NOT NULL,
  due_at             timestamptz NOT NULL,
  closed_at          timestamptz,
  closed_by_kind     text CHECK (closed_by_kind IN ('patron', 'staff')),
  closed_by          uuid REFERENCES accounts (id),
  refusal_reasons    text[] NOT NULL DEFAULT '{}',
  CONSTRAINT rights_requests_due_after_request CHECK (due_at > requested_at),
  CONSTRAINT rights_requests_closed CHECK ((status = 'pending') = (closed_at IS NULL)),
  CONSTRAINT rights_requests_staff_named CHECK ((requested_by_kind = 'staff') = (requested_by IS NOT NULL))
);
CREATE INDEX rights_requests_open_idx ON rights_requests (library_id, due_at) WHERE status = 'pending';
CREATE INDEX rights_requests_library_idx ON rights_requests (library_id, requested_at);
CREATE INDEX rights_requests_patron_idx ON rights_requests (patron_id, requested_at);

-- The written confirmation of an erasure (§4.2): what was erased, when and
-- by whom, without any personal data; the patron id names only the
-- anonymised shell that keeps statistics whole.
CREATE TABLE erasure_confirmations (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_id      uuid NOT NULL CONSTRAINT erasure_confirmations_request_key UNIQUE REFERENCES rights_requests (id),
  patron_id       uuid NOT NULL REFERENCES patrons (id),
  library_id      uuid NOT NULL REFERENCES libraries (id),
  erased_at       timestamptz NOT NULL,
  erased_by_kind  text NOT NULL CHECK (erased_by_kind IN ('patron', 'staff')),
  erased_by       uuid REFERENCES accounts (id),
  -- Counts of what was removed or detached, by kind.
  summary         jsonb NOT NULL CHECK (jsonb_typeof(summary) = 'object'),
  text            text NOT NULL
);
CREATE INDEX erasure_confirmations_library_idx ON erasure_confirmations (library_id, erased_at DESC);

GRANT SELECT, INSERT, UPDATE, DELETE ON self_registrations, event_signups, rights_requests TO patronfed_app;
GRANT SELECT, INSERT ON erasure_confirmations TO patronfed_app;
-- Confirmations are a written record: the server may not change them.
REVOKE UPDATE, DELETE, TRUNCATE ON erasure_confirmations FROM patronfed_app;

-- +goose Down
DROP TABLE erasure_confirmations;
DROP TABLE rights_requests;
DROP TABLE event_signups;
DROP TABLE self_registrations;
-- Rows whose link was cut cannot get it back.
DELETE FROM consent_events WHERE patron_id IS NULL OR actor_id IS NULL;
ALTER TABLE consent_events
  ALTER COLUMN patron_id SET NOT NULL,
  ALTER COLUMN actor_id SET NOT NULL;
