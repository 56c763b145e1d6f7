-- Audit log (issue 4): every staff read, search hit and denied attempt on
-- patron data, written durably with the access and hash-chained (package
-- audit). The app role may only append: UPDATE, DELETE and TRUNCATE are
-- revoked; old rows leave only through audit_purge_before, which records an
-- anchor so the remaining chain still verifies.
--
-- hash = SHA-256 over prev_hash and a canonical encoding of the row (see
-- audit/doc.go). Rows hold ids, never names or identifiers.

-- +goose Up

CREATE TABLE audit_log (
  seq               bigint PRIMARY KEY,
  at                timestamptz NOT NULL,
  request_id        text NOT NULL DEFAULT '',
  actor_kind        text NOT NULL,
  actor_id          uuid,
  actor_library_id  uuid,
  actor_roles       text[] NOT NULL DEFAULT '{}',
  token_id          text NOT NULL DEFAULT '',
  action            text NOT NULL,
  patron_id         uuid,
  allowed           boolean NOT NULL,
  reasons           text[] NOT NULL DEFAULT '{}',
  fields            text[] NOT NULL DEFAULT '{}',
  policy_version    bigint NOT NULL,
  -- The policy input (ids and flags only), for replaying decisions.
  input             jsonb NOT NULL DEFAULT '{}',
  prev_hash         bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash              bytea NOT NULL CHECK (octet_length(hash) = 32)
);
-- Breach scoping (§5.4): which patrons and data an account, a library, a
-- token or a time window touched.
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at);
CREATE INDEX audit_log_actor_library_idx ON audit_log (actor_library_id, at);
CREATE INDEX audit_log_patron_idx ON audit_log (patron_id, at);
CREATE INDEX audit_log_token_idx ON audit_log (token_id);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- The end of the chain. Writers lock this row, so appends from every replica
-- are serialised and seq has no gaps.
CREATE TABLE audit_chain_head (
  id    integer PRIMARY KEY CHECK (id = 1),
  seq   bigint NOT NULL,
  hash  bytea NOT NULL CHECK (octet_length(hash) = 32)
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Anchors left by purges: the last purged row's seq and hash. Verify starts
-- from the latest anchor instead of the genesis hash.
CREATE TABLE audit_purges (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  purged_at  timestamptz NOT NULL DEFAULT now(),
  cutoff     timestamptz NOT NULL,
  last_seq   bigint NOT NULL,
  last_hash  bytea NOT NULL CHECK (octet_length(last_hash) = 32),
  rows       bigint NOT NULL
);

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM patronfed_app;
GRANT SELECT, INSERT ON audit_log TO patronfed_app;
REVOKE INSERT, DELETE, TRUNCATE ON audit_chain_head FROM patronfed_app;
GRANT SELECT, UPDATE ON audit_chain_head TO patronfed_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_purges FROM patronfed_app;
GRANT SELECT ON audit_purges TO patronfed_app;

-- audit_purge_before deletes the oldest rows, those before the first row at
-- or after cutoff (so what remains is always a contiguous tail of the
-- chain), and records the last deleted row as an anchor. It runs as its
-- owner, the migrating role: the app role can purge only through it.
-- +goose StatementBegin
CREATE FUNCTION audit_purge_before(cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  boundary   bigint;
  anchor_seq bigint;
  anchor     bytea;
  n          bigint;
BEGIN
  -- Serialise with writers, which append under this lock.
  PERFORM 1 FROM audit_chain_head WHERE id = 1 FOR UPDATE;
  SELECT min(seq) INTO boundary FROM audit_log WHERE at >= cutoff;
  SELECT seq, hash INTO anchor_seq, anchor FROM audit_log
    WHERE boundary IS NULL OR seq < boundary
    ORDER BY seq DESC LIMIT 1;
  IF anchor_seq IS NULL THEN
    RETURN 0;
  END IF;
  DELETE FROM audit_log WHERE seq <= anchor_seq;
  GET DIAGNOSTICS n = ROW_COUNT;
  INSERT INTO audit_purges (cutoff, last_seq, last_hash, rows) VALUES (cutoff, anchor_seq, anchor, n);
  RETURN n;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION audit_purge_before(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_purge_before(timestamptz) TO patronfed_app;

-- +goose Down
DROP FUNCTION audit_purge_before(timestamptz);
DROP TABLE audit_purges;
DROP TABLE audit_chain_head;
DROP TABLE audit_log;
