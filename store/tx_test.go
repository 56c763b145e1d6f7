package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	_ store.TxBeginner = (*pgxpool.Pool)(nil)
	_ store.TxBeginner = (*pgx.Conn)(nil)
)

func mustExec(t *testing.T, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDB(t)
	admin := pgtest.NewPool(t)
	// Roles are cluster-wide: create idempotently.
	mustExec(t, admin, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'store test role') THEN
			CREATE ROLE "store test role" NOLOGIN;
		END IF; END $$`)

	pool, err := store.Open(ctx, url, store.PoolOptions{
		MaxConns:         3,
		AppRole:          "store test role",
		StatementTimeout: 1500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d", got)
	}
	// Every connection, not just the first, runs as the app role.
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cur, sess, app, timeout string
			err := pool.QueryRow(ctx, `SELECT current_user, session_user, current_setting('application_name'),
				current_setting('statement_timeout'), pg_sleep(0.05)::text`).Scan(&cur, &sess, &app, &timeout, new(string))
			if err != nil {
				t.Error(err)
				return
			}
			if cur != "store test role" || sess != "postgres" || app != "patronfed" || timeout != "1500ms" {
				t.Errorf("current_user=%q session_user=%q application_name=%q statement_timeout=%q", cur, sess, app, timeout)
			}
		}()
	}
	wg.Wait()

	if _, err := store.Open(ctx, url, store.PoolOptions{AppRole: "no_such_role"}); err == nil {
		t.Error("Open with a missing role succeeded")
	}
	if _, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", store.PoolOptions{}); err == nil {
		t.Error("Open of an unreachable server succeeded")
	} else if st := status.Convert(store.Status(err)); st.Code() != codes.Unavailable {
		t.Errorf("Status(unreachable) = %v", st)
	}
}

func newCounterTable(t *testing.T) *pgxpool.Pool {
	pool := pgtest.NewPool(t)
	mustExec(t, pool, "CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
	mustExec(t, pool, "INSERT INTO counters VALUES (1, 0)")
	return pool
}

func TestInTxCommits(t *testing.T) {
	t.Parallel()
	pool := newCounterTable(t)
	err := store.InTx(context.Background(), pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), "UPDATE counters SET n = 42")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT n FROM counters"); n != 42 {
		t.Errorf("n = %d", n)
	}
}

func TestInTxRollsBack(t *testing.T) {
	t.Parallel()
	pool := newCounterTable(t)
	ctx := context.Background()
	boom := errors.New("boom")
	attempts := 0
	err := store.InTx(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		attempts++
		if _, err := tx.Exec(ctx, "UPDATE counters SET n = 42"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || attempts != 1 {
		t.Fatalf("err=%v attempts=%d", err, attempts)
	}
	if n := count(t, pool, "SELECT n FROM counters"); n != 0 {
		t.Errorf("n = %d after rollback", n)
	}

	// A panic rolls back and propagates.
	func() {
		defer func() {
			if r := recover(); r != "oops" {
				t.Errorf("recovered %v", r)
			}
		}()
		store.InTx(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			tx.Exec(ctx, "UPDATE counters SET n = 7")
			panic("oops")
		})
	}()
	if n := count(t, pool, "SELECT n FROM counters"); n != 0 {
		t.Errorf("n = %d after panic", n)
	}
	// The pool is still healthy (connections were released).
	for range 2 * int(pool.Config().MaxConns) {
		if err := store.InTx(ctx, pool, pgx.TxOptions{}, func(pgx.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInTxRetriesSerializationFailure runs two SERIALIZABLE transactions
// that both read and then increment the same row. The second to write gets
// 40001 and InTx reruns it; both increments must land.
func TestInTxRetriesSerializationFailure(t *testing.T) {
	t.Parallel()
	pool := newCounterTable(t)
	ctx := context.Background()
	var attempts atomic.Int32
	var readBoth sync.WaitGroup
	readBoth.Add(2)
	serializable := pgx.TxOptions{IsoLevel: pgx.Serializable}
	increment := func() error {
		first := true
		return store.InTx(ctx, pool, serializable, func(tx pgx.Tx) error {
			attempts.Add(1)
			var n int
			if err := tx.QueryRow(ctx, "SELECT n FROM counters WHERE id = 1").Scan(&n); err != nil {
				return err
			}
			if first { // both transactions have their snapshot before either writes
				first = false
				readBoth.Done()
				readBoth.Wait()
			}
			_, err := tx.Exec(ctx, "UPDATE counters SET n = $1 WHERE id = 1", n+1)
			return err
		})
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- increment() }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, pool, "SELECT n FROM counters"); n != 2 {
		t.Errorf("n = %d, want 2", n)
	}
	if a := attempts.Load(); a < 3 {
		t.Errorf("attempts = %d, want >= 3 (one retry)", a)
	}
}

func TestInTxGivesUp(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	for _, code := range []string{"40001", "40P01"} {
		attempts := 0
		start := time.Now()
		err := store.InTx(ctx, pool, pgx.TxOptions{}, func(pgx.Tx) error {
			attempts++
			return &pgconn.PgError{Code: code, Message: "secret 123"}
		})
		if attempts != store.MaxTxAttempts {
			t.Errorf("%s: attempts = %d, want %d", code, attempts, store.MaxTxAttempts)
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != code {
			t.Errorf("%s: err = %v", code, err)
		}
		st := status.Convert(store.Status(err))
		if st.Code() != codes.Aborted {
			t.Errorf("%s: Status = %v", code, st)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", code, d)
		}
	}

	// Other errors, including other PostgreSQL errors, are not retried.
	attempts := 0
	err := store.InTx(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		attempts++
		_, err := tx.Exec(ctx, "SELECT 1/0")
		return err
	})
	if err == nil || attempts != 1 {
		t.Errorf("err=%v attempts=%d", err, attempts)
	}
}

func TestInTxContextCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	err := store.InTx(ctx, pool, pgx.TxOptions{}, func(pgx.Tx) error {
		attempts++
		cancel()
		return &pgconn.PgError{Code: "40001"}
	})
	if !errors.Is(err, context.Canceled) || attempts != 1 {
		t.Fatalf("err=%v attempts=%d", err, attempts)
	}
	if st := status.Convert(store.Status(err)); st.Code() != codes.Canceled {
		t.Errorf("Status = %v", st)
	}
}
