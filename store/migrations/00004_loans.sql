-- Circulation (issue 5): the items that can be lent, loans, reservations,
-- fees and payments, reminders and demand letters with their claims,
-- patron suspensions and the idempotency record of retryable writes.
--
-- The SPOK rule shapes the schema: an active loan (returned_at IS NULL) is
-- visible to the lending library; a returned loan is history that only the
-- patron reads and may delete. Fees point at their loan with ON DELETE SET
-- NULL, so deleting history keeps the fee (amount, dates, kind) but detaches
-- it from the borrowed title. Fee rows never copy the title themselves.

-- +goose Up

-- Just enough catalogue to lend: not a catalogue system.
CREATE TABLE items (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  barcode            text NOT NULL CONSTRAINT items_barcode_key UNIQUE
                       CONSTRAINT items_barcode_check CHECK (barcode ~ '^[0-9A-Za-z-]{4,32}$'),
  title              text NOT NULL CONSTRAINT items_title_check CHECK (length(title) BETWEEN 1 AND 500),
  owning_library_id  uuid NOT NULL REFERENCES libraries (id),
  status             text NOT NULL DEFAULT 'available'
                       CHECK (status IN ('available', 'on_loan', 'missing', 'withdrawn')),
  -- Who last borrowed the item (the SPOK exception to history: staff of the
  -- owning library may see it, and nothing more). Set when a loan ends,
  -- overwritten by the next one; retention clears it.
  last_borrower_id   uuid REFERENCES patrons (id) ON DELETE SET NULL,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL
);
CREATE INDEX items_owning_library_idx ON items (owning_library_id);
CREATE INDEX items_last_borrower_idx ON items (last_borrower_id) WHERE last_borrower_id IS NOT NULL;

CREATE TABLE loans (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  item_id             uuid NOT NULL REFERENCES items (id),
  -- NULL once the history entry is anonymised.
  patron_id           uuid REFERENCES patrons (id) ON DELETE SET NULL,
  lending_library_id  uuid NOT NULL REFERENCES libraries (id),
  checked_out_at      timestamptz NOT NULL,
  due_at              timestamptz NOT NULL,
  renewals            integer NOT NULL DEFAULT 0 CHECK (renewals >= 0),
  returned_at         timestamptz,
  return_library_id   uuid REFERENCES libraries (id),
  CONSTRAINT loans_due_after_checkout CHECK (due_at > checked_out_at),
  CONSTRAINT loans_return_complete CHECK ((returned_at IS NULL) = (return_library_id IS NULL)),
  -- An active loan always has a borrower: a patron with unreturned items
  -- cannot be anonymised or deleted.
  CONSTRAINT loans_active_has_patron CHECK (returned_at IS NOT NULL OR patron_id IS NOT NULL)
);
-- One active loan per item: the database, not the handler, guarantees that
-- two concurrent checkouts cannot both win.
CREATE UNIQUE INDEX loans_one_active_per_item ON loans (item_id) WHERE returned_at IS NULL;
-- The visibility filter (patron package) and the staff lists read active
-- loans by patron and lending library.
CREATE INDEX loans_active_patron_idx ON loans (patron_id, lending_library_id) WHERE returned_at IS NULL;
CREATE INDEX loans_active_library_idx ON loans (lending_library_id, due_at) WHERE returned_at IS NULL;
-- The patron's history.
CREATE INDEX loans_history_idx ON loans (patron_id, returned_at DESC) WHERE returned_at IS NOT NULL;
CREATE INDEX loans_item_idx ON loans (item_id);

-- Reservations (holds) on an item. An active reservation is visible like an
-- active loan; a fulfilled, cancelled or expired one is history.
CREATE TABLE reservations (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  item_id            uuid NOT NULL REFERENCES items (id),
  patron_id          uuid REFERENCES patrons (id) ON DELETE SET NULL,
  pickup_library_id  uuid NOT NULL REFERENCES libraries (id),
  status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'fulfilled', 'cancelled', 'expired')),
  placed_at          timestamptz NOT NULL,
  expires_at         timestamptz NOT NULL,
  finished_at        timestamptz,
  CONSTRAINT reservations_finished CHECK ((status = 'active') = (finished_at IS NULL)),
  CONSTRAINT reservations_active_has_patron CHECK (status <> 'active' OR patron_id IS NOT NULL),
  CONSTRAINT reservations_expiry_after_placing CHECK (expires_at > placed_at)
);
CREATE UNIQUE INDEX reservations_one_active_per_patron_item ON reservations (item_id, patron_id) WHERE status = 'active';
CREATE INDEX reservations_active_item_idx ON reservations (item_id, placed_at) WHERE status = 'active';
CREATE INDEX reservations_active_patron_idx ON reservations (patron_id, pickup_library_id) WHERE status = 'active';
CREATE INDEX reservations_active_expiry_idx ON reservations (pickup_library_id, expires_at) WHERE status = 'active';
CREATE INDEX reservations_history_idx ON reservations (patron_id, finished_at DESC) WHERE status <> 'active';

-- Fees (accounting): amounts in minor units of the charging library's
-- currency. loan_id is NULL once the patron deletes the loan from their
-- history (or retention anonymises it): the fee keeps amount, dates and kind.
CREATE TABLE fees (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  patron_id    uuid REFERENCES patrons (id) ON DELETE SET NULL,
  library_id   uuid NOT NULL REFERENCES libraries (id),
  loan_id      uuid REFERENCES loans (id) ON DELETE SET NULL,
  kind         text NOT NULL CHECK (kind IN ('overdue', 'damage')),
  amount       bigint NOT NULL CONSTRAINT fees_amount_check CHECK (amount > 0 AND amount <= 100000000),
  currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  paid_amount  bigint NOT NULL DEFAULT 0 CONSTRAINT fees_paid_check CHECK (paid_amount BETWEEN 0 AND amount),
  charged_at   timestamptz NOT NULL,
  -- Set when paid_amount reaches amount.
  settled_at   timestamptz
);
CREATE INDEX fees_patron_idx ON fees (patron_id, charged_at);
CREATE INDEX fees_unpaid_idx ON fees (patron_id) WHERE settled_at IS NULL;
CREATE INDEX fees_loan_idx ON fees (loan_id) WHERE loan_id IS NOT NULL;

CREATE TABLE payments (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  fee_id       uuid NOT NULL REFERENCES fees (id),
  library_id   uuid NOT NULL REFERENCES libraries (id),
  amount       bigint NOT NULL CONSTRAINT payments_amount_check CHECK (amount > 0),
  paid_at      timestamptz NOT NULL
);
CREATE INDEX payments_fee_idx ON payments (fee_id);

-- Reminders and pre-action demand letters (privacy-rules §1 "legal"), each
-- with the list of claims it made at the time.
CREATE TABLE notices (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  patron_id   uuid REFERENCES patrons (id) ON DELETE SET NULL,
  library_id  uuid NOT NULL REFERENCES libraries (id),
  kind        text NOT NULL CHECK (kind IN ('reminder', 'demand_letter')),
  created_at  timestamptz NOT NULL
);
CREATE INDEX notices_patron_idx ON notices (patron_id, created_at);

-- A claim is an unreturned item (loan_id, due_at) or an unpaid fee (fee_id,
-- amount, currency). Amounts and dates are copied so the letter stays what
-- it was; the loan reference is detached like a fee's when the patron
-- deletes the history entry.
CREATE TABLE notice_claims (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  notice_id   uuid NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('item', 'fee')),
  loan_id     uuid REFERENCES loans (id) ON DELETE SET NULL,
  fee_id      uuid REFERENCES fees (id) ON DELETE SET NULL,
  due_at      timestamptz,
  amount      bigint,
  currency    text,
  CONSTRAINT notice_claims_shape CHECK (
    (kind = 'item' AND due_at IS NOT NULL AND amount IS NULL) OR
    (kind = 'fee' AND amount IS NOT NULL AND currency IS NOT NULL))
);
CREATE INDEX notice_claims_notice_idx ON notice_claims (notice_id);
CREATE INDEX notice_claims_loan_idx ON notice_claims (loan_id) WHERE loan_id IS NOT NULL;

-- Suspension of a patron's services under the library rules. It blocks
-- checkouts at every member library and, while it lasts, erasure.
-- suspended_until NULL: until lifted.
CREATE TABLE patron_suspensions (
  patron_id        uuid PRIMARY KEY REFERENCES patrons (id) ON DELETE CASCADE,
  library_id       uuid NOT NULL REFERENCES libraries (id),
  reason           text NOT NULL CONSTRAINT patron_suspensions_reason_check CHECK (length(reason) BETWEEN 1 AND 500),
  suspended_until  timestamptz,
  created_at       timestamptz NOT NULL
);

-- Idempotency of retryable writes: the first result of (scope, request_id)
-- is kept so a retry returns it instead of acting twice. scope_id is the
-- staff member's library, or the patron for OPAC calls. fingerprint is a
-- hash of the request, to refuse a request id reused for another request.
-- Rows are short-lived (pruned after a day) and deleted with the history
-- entry they point at.
CREATE TABLE circulation_requests (
  scope_id     uuid NOT NULL,
  request_id   uuid NOT NULL,
  method       text NOT NULL,
  fingerprint  bytea NOT NULL,
  result_id    uuid,
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (scope_id, request_id)
);
CREATE INDEX circulation_requests_created_idx ON circulation_requests (scope_id, created_at);
CREATE INDEX circulation_requests_result_idx ON circulation_requests (result_id);

-- +goose Down
DROP TABLE circulation_requests;
DROP TABLE patron_suspensions;
DROP TABLE notice_claims;
DROP TABLE notices;
DROP TABLE payments;
DROP TABLE fees;
DROP TABLE reservations;
DROP TABLE loans;
DROP TABLE items;
