package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TxBeginner starts transactions. *pgxpool.Pool and *pgx.Conn implement it;
// pgx.Tx deliberately does not (retrying inside an outer transaction cannot
// work: the outer transaction is already doomed).
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// MaxTxAttempts is how many times InTx runs fn before giving up on
// serialization failures and deadlocks.
const MaxTxAttempts = 5

// Backoff between attempts: attempt n waits a random duration in
// [d/2, d) with d = txBackoffBase * 2^(n-1), capped at txBackoffMax.
// Variables so tests can speed them up.
var (
	txBackoffBase = 10 * time.Millisecond
	txBackoffMax  = 500 * time.Millisecond
)

// InTx runs fn in a transaction and commits it if fn returns nil; otherwise
// (or if fn panics) it rolls back. On a serialization failure (40001) or a
// deadlock (40P01), from fn or from COMMIT, it reruns the whole transaction
// with jittered exponential backoff, up to MaxTxAttempts attempts, so fn
// must have no side effects outside the transaction and must return
// database errors unconverted (not via Status). Other errors are returned as
// they are; after the last attempt the error still carries the SQLSTATE, so
// Status maps it to Aborted. If ctx ends while waiting to retry, ctx.Err()
// is returned.
func InTx(ctx context.Context, db TxBeginner, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := runTx(ctx, db, opts, fn)
		if err == nil || !retryable(err) {
			return err
		}
		if attempt >= MaxTxAttempts {
			return fmt.Errorf("store: transaction failed after %d attempts: %w", attempt, err)
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func runTx(ctx context.Context, db TxBeginner, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done { // fn failed or panicked, or COMMIT failed
			// Roll back even if ctx is already cancelled, so the connection
			// can go back to the pool (pgx closes it if this fails).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = tx.Rollback(rctx)
			cancel()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	done = true
	return nil
}

// retryable reports whether err is a serialization failure or deadlock.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected
}

func backoff(attempt int) time.Duration {
	d := txBackoffBase << (attempt - 1)
	if d > txBackoffMax || d <= 0 {
		d = txBackoffMax
	}
	return d/2 + rand.N(d/2+1)
}
