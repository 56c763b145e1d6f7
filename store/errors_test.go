package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/store"
)

func init() {
	store.RegisterConstraint("st_cards_card_number_key", "card_number", "card number already in use")
	store.RegisterConstraint("st_cards_card_number_check", "card_number", "card number must be 4-32 letters or digits")
	store.RegisterConstraint("st_cards_patron_id_fkey", "patron_id", "no such patron")
	store.RegisterConstraint("st_cards_card_number_key", "card_number", "card number already in use") // identical: fine
}

// secret is a "personal" value that must never appear in a status.
const secret = "4111222233334444"

func fieldViolations(st *status.Status) []*errdetails.BadRequest_FieldViolation {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			return br.FieldViolations
		}
	}
	return nil
}

// checkStatus asserts code, message, the BadRequest field (or none if
// field is ""), and that nothing from PostgreSQL's message/detail leaked.
func checkStatus(t *testing.T, err error, code codes.Code, msg, field string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	st, ok := status.FromError(store.Status(err))
	if !ok {
		t.Fatalf("Status(%v) is not a gRPC status", err)
	}
	if st.Code() != code || st.Message() != msg {
		t.Errorf("Status(%v) = %v %q, want %v %q", err, st.Code(), st.Message(), code, msg)
	}
	fv := fieldViolations(st)
	switch {
	case field == "" && fv != nil:
		t.Errorf("unexpected field violations %v", fv)
	case field != "" && (len(fv) != 1 || fv[0].Field != field || fv[0].Description != msg):
		t.Errorf("field violations %v, want %s: %s", fv, field, msg)
	}
	// Nothing of the row values may leak, in the message or in any detail.
	full := fmt.Sprint(st.Proto())
	for _, bad := range []string{secret, "Key (", "violates"} {
		if strings.Contains(full, bad) {
			t.Errorf("status leaks %q: %s", bad, full)
		}
	}
}

func TestStatusRealErrors(t *testing.T) {
	t.Parallel()
	pool := newCounterTable(t)
	ctx := context.Background()
	mustExec(t, pool, `CREATE TABLE st_patrons (id int PRIMARY KEY, name text NOT NULL)`)
	mustExec(t, pool, `CREATE TABLE st_cards (
		card_number text CONSTRAINT st_cards_card_number_key UNIQUE
			CONSTRAINT st_cards_card_number_check CHECK (card_number ~ '^[0-9A-Za-z]{4,32}$'),
		patron_id int CONSTRAINT st_cards_patron_id_fkey REFERENCES st_patrons (id),
		note text CONSTRAINT st_cards_note_check CHECK (note <> 'x' || '`+secret+`'),
		code varchar(4) CONSTRAINT st_cards_code_key UNIQUE,
		at timestamptz)`)
	mustExec(t, pool, `INSERT INTO st_patrons VALUES (1, 'Jana')`)
	mustExec(t, pool, `INSERT INTO st_cards (card_number, patron_id, code) VALUES ($1, 1, 'ab')`, secret)

	exec := func(sql string, args ...any) error {
		_, err := pool.Exec(ctx, sql, args...)
		return err
	}
	t.Run("unique registered", func(t *testing.T) {
		err := exec(`INSERT INTO st_cards (card_number) VALUES ($1)`, secret)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Detail, secret) {
			t.Fatalf("test premise: PostgreSQL's detail should quote the value: %v", err)
		}
		checkStatus(t, err, codes.AlreadyExists, "card number already in use", "card_number")
		if !store.IsConstraint(err, "st_cards_card_number_key") || store.IsConstraint(err, "other") {
			t.Error("IsConstraint")
		}
	})
	t.Run("unique unregistered", func(t *testing.T) {
		checkStatus(t, exec(`INSERT INTO st_cards (card_number, code) VALUES ('9999', 'ab')`),
			codes.AlreadyExists, "already exists (constraint st_cards_code_key)", "")
	})
	t.Run("check registered", func(t *testing.T) {
		checkStatus(t, exec(`INSERT INTO st_cards (card_number) VALUES ($1)`, secret+"!"),
			codes.InvalidArgument, "card number must be 4-32 letters or digits", "card_number")
	})
	t.Run("check unregistered", func(t *testing.T) {
		checkStatus(t, exec(`INSERT INTO st_cards (card_number, note) VALUES ('1234', $1)`, "x"+secret),
			codes.InvalidArgument, "invalid value (constraint st_cards_note_check)", "")
	})
	t.Run("foreign key insert", func(t *testing.T) {
		checkStatus(t, exec(`INSERT INTO st_cards (card_number, patron_id) VALUES ('5555', 424242)`),
			codes.InvalidArgument, "no such patron", "patron_id")
	})
	t.Run("foreign key delete", func(t *testing.T) {
		checkStatus(t, exec(`DELETE FROM st_patrons WHERE id = 1`),
			codes.FailedPrecondition, "still in use (constraint st_cards_patron_id_fkey)", "")
	})
	t.Run("not null", func(t *testing.T) {
		checkStatus(t, exec(`INSERT INTO st_patrons (id) VALUES (2)`), codes.InvalidArgument, "name is required", "name")
	})
	t.Run("invalid text", func(t *testing.T) {
		checkStatus(t, exec(`SELECT $1::text::uuid`, secret), codes.InvalidArgument, "invalid value syntax", "")
		checkStatus(t, exec(`SELECT $1::text::int`, "x"+secret), codes.InvalidArgument, "invalid value syntax", "")
	})
	t.Run("datetime", func(t *testing.T) {
		checkStatus(t, exec(`SELECT $1::text::timestamptz`, secret+"-99"), codes.InvalidArgument, "invalid date or time value", "")
		checkStatus(t, exec(`SELECT '2024-13-45'::text::date`), codes.InvalidArgument, "invalid date or time value", "")
	})
	t.Run("too long", func(t *testing.T) {
		checkStatus(t, exec(`INSERT INTO st_cards (card_number, code) VALUES ('7777', $1)`, secret),
			codes.InvalidArgument, "value too long", "")
	})
	t.Run("no rows", func(t *testing.T) {
		var n int
		err := pool.QueryRow(ctx, `SELECT id FROM st_patrons WHERE id = 99`).Scan(&n)
		checkStatus(t, err, codes.NotFound, "not found", "")
		checkStatus(t, fmt.Errorf("loading patron: %w", err), codes.NotFound, "not found", "")
		checkStatus(t, sql.ErrNoRows, codes.NotFound, "not found", "")
	})
	t.Run("lock not available", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		mustExec(t, tx, `SELECT * FROM counters WHERE id = 1 FOR UPDATE`)
		checkStatus(t, exec(`SELECT * FROM counters WHERE id = 1 FOR UPDATE NOWAIT`), codes.Unavailable, "resource busy; retry", "")
	})
	t.Run("statement timeout", func(t *testing.T) {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		mustExec(t, conn, `SET statement_timeout = '20ms'`)
		defer mustExec(t, conn, `RESET statement_timeout`)
		_, err = conn.Exec(ctx, `SELECT pg_sleep(5)`)
		checkStatus(t, err, codes.DeadlineExceeded, "query timed out", "")
	})
	t.Run("context deadline", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err := pool.Exec(cctx, `SELECT pg_sleep(5)`)
		checkStatus(t, err, codes.DeadlineExceeded, "deadline exceeded", "")
		if st := status.Convert(store.StatusContext(cctx, err)); st.Code() != codes.DeadlineExceeded {
			t.Errorf("StatusContext = %v", st)
		}
	})
	t.Run("serialization after retries", func(t *testing.T) {
		checkStatus(t, fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "40001", Message: secret}),
			codes.Aborted, "transaction conflict; retry", "")
	})
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return &pgconn.PgError{Code: code, Message: "value " + secret, Detail: "Key (x)=(" + secret + ")"}
	}
	already := status.Error(codes.PermissionDenied, "not your library")
	cases := []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{already, codes.PermissionDenied, "not your library"},
		{fmt.Errorf("wrapped: %w", already), codes.PermissionDenied, "not your library"},
		{context.Canceled, codes.Canceled, "request canceled"},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
		{pgx.ErrNoRows, codes.NotFound, "not found"},
		{pg("23505"), codes.AlreadyExists, "already exists"},
		{pg("23P01"), codes.AlreadyExists, "already exists"},
		{pg("23503"), codes.FailedPrecondition, "still in use"},
		{pg("23514"), codes.InvalidArgument, "invalid value"},
		{pg("23502"), codes.InvalidArgument, "missing required value"},
		{pg("22P02"), codes.InvalidArgument, "invalid value syntax"},
		{pg("22007"), codes.InvalidArgument, "invalid date or time value"},
		{pg("22008"), codes.InvalidArgument, "invalid date or time value"},
		{pg("22003"), codes.InvalidArgument, "value out of range"},
		{pg("40001"), codes.Aborted, "transaction conflict; retry"},
		{pg("40P01"), codes.Aborted, "transaction conflict; retry"},
		{pg("55P03"), codes.Unavailable, "resource busy; retry"},
		{pg("53300"), codes.Unavailable, "database unavailable"},
		{pg("57P01"), codes.Unavailable, "database unavailable"},
		{pg("08006"), codes.Unavailable, "database unavailable"},
		{pg("57014"), codes.DeadlineExceeded, "query timed out"},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}, codes.Canceled, "request canceled"},
		{pg("42501"), codes.Internal, "internal error"},
		{pg("P0001"), codes.Internal, "internal error"},
		{errors.New("some bug " + secret), codes.Internal, "internal error"},
	}
	for _, c := range cases {
		st := status.Convert(store.Status(c.err))
		if st.Code() != c.code || st.Message() != c.msg {
			t.Errorf("Status(%v) = %v %q, want %v %q", c.err, st.Code(), st.Message(), c.code, c.msg)
		}
		if strings.Contains(fmt.Sprint(st.Proto()), secret) {
			t.Errorf("Status(%v) leaks the value", c.err)
		}
	}
	if store.Status(nil) != nil || store.StatusContext(context.Background(), nil) != nil {
		t.Error("Status(nil) != nil")
	}
	// StatusContext: a cancellation follows the request's context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if st := status.Convert(store.StatusContext(ctx, pg("57014"))); st.Code() != codes.Canceled {
		t.Errorf("StatusContext(cancelled, 57014) = %v", st)
	}
	if st := status.Convert(store.StatusContext(ctx, pg("23505"))); st.Code() != codes.AlreadyExists {
		t.Errorf("StatusContext(cancelled, 23505) = %v", st)
	}
}

func TestRegisterConstraintConflictPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("conflicting registration did not panic")
		}
	}()
	store.RegisterConstraint("st_cards_card_number_key", "number", "different")
}
