-- How long a reservation waits for its patron unless the desk gives an
-- expiry: a setting of the pickup library (it was fixed at 14 days).

-- +goose Up
ALTER TABLE library_settings
  ADD COLUMN reservation_days integer NOT NULL DEFAULT 14 CHECK (reservation_days BETWEEN 1 AND 90);

-- +goose Down
ALTER TABLE library_settings DROP COLUMN reservation_days;
