package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/store"
)

// ErrBusy is returned by Run when another run holds the lock (on this or
// another replica).
var ErrBusy = errors.New("retention: another run is in progress")

// errDryRun rolls back a dry run's batch after it has been counted.
var errDryRun = errors.New("retention: dry run")

// lockKey is the advisory lock of the engine: a constant no other part of
// patronfed uses ("retent" in ASCII).
const lockKey int64 = 0x726574656e74

// DefaultBatchSize bounds the rows one batch transaction touches.
const DefaultBatchSize = 1000

// DefaultPause is the least wait between batches of the scheduled run
// and of `patronfed retention run`. Flat out, a run over a large backlog
// keeps a core busy and the desks' reads wait for it: on 1 M expired
// loans and 2 cores, GetPatron p99 during the run was 3.4× idle without a
// pause and 2.1–2.4× with this one, the run taking 3.5–4 minutes instead
// of 2¼ (docs/performance.md, optimisation 22). An hourly run's backlog is
// a few batches, so it costs those runs next to nothing.
const DefaultPause = 100 * time.Millisecond

// DefaultWorkShare is the share of its time the scheduled run and
// `patronfed retention run` spend working: after a batch that took t, the
// pause is at least 7t. On 1 M expired loans and 2 cores it kept
// GetPatron's p99 during the run at 1.36–1.76× idle against 1.63–2.02×
// with the 100 ms pause alone, the run taking 12 minutes instead of 3
// (docs/performance.md, round 7 and optimisation 26). An hourly run's
// backlog is a few batches; to clear a large one fast, an operator runs
// `patronfed retention run --work-share 1` in a quiet hour.
const DefaultWorkShare = 0.125

// Engine runs the retention steps.
type Engine struct {
	db    *pgxpool.Pool
	clock clock.Clock
	log   *slog.Logger
	// sleep waits between batches (Options.Pause); tests replace it.
	sleep func(context.Context, time.Duration) error
	// now times batches for Options.WorkShare; tests replace it.
	now func() time.Time
	// PatronChanged (optional) is called with the id of each patron a
	// batch archived or anonymised, once the batch has committed (never in
	// a dry run): the server drops the patron's cached principal at once
	// instead of waiting for the database's notification.
	PatronChanged func(patronID string)
}

// New returns an engine; log may be nil.
func New(db *pgxpool.Pool, clk clock.Clock, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Engine{db: db, clock: clk, log: log, sleep: sleepCtx, now: time.Now}
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pause waits after a committed batch that took took and that more
// batches follow: o.Pause, or longer if o.WorkShare asks for it.
func (e *Engine) pause(ctx context.Context, o Options, took time.Duration) error {
	d := o.Pause
	if s := o.WorkShare; s > 0 && s < 1 {
		d = max(d, time.Duration(float64(took)*(1-s)/s))
	}
	if d <= 0 {
		return nil
	}
	return e.sleep(ctx, d)
}

// Options shape one run.
type Options struct {
	// DryRun executes every batch and rolls it back.
	DryRun bool
	// LibraryCode limits the run to one library ("" = all). The audit log
	// is shared by all libraries and is then left alone.
	LibraryCode string
	// BatchSize is the rows per transaction (default DefaultBatchSize);
	// patron steps use a tenth of it, since each patron is many statements.
	BatchSize int
	// Pause is the least wait after each committed batch that another
	// follows (0 = none; the scheduler and the CLI use DefaultPause). It
	// leaves the database to the requests served meanwhile.
	Pause time.Duration
	// WorkShare, if between 0 and 1, lengthens each pause so that the run
	// works at most this share of its time: after a batch that took t, the
	// pause is at least t×(1−WorkShare)/WorkShare, as PostgreSQL's vacuum
	// cost delay paces vacuum. Unlike a fixed pause it keeps the run's
	// share the same where batches take longer (a slower disk, a colder
	// cache, a busier host). 0 or 1 leaves the pause as it is (the
	// scheduler and the CLI use DefaultWorkShare).
	WorkShare float64
	// Progress, if set, is called after every batch.
	Progress func(Progress)
}

// Progress reports one finished batch.
type Progress struct {
	Step Step
	// Rows is how many rows the step has handled so far in this run.
	Rows int64
}

// library is a library in the run.
type library struct{ ID, Code string }

// Run runs every step once, as of the clock's now, and reports what it did
// per library. It returns ErrBusy if another run holds the lock. When ctx
// ends midway, the batches committed so far stay (the next run finishes
// the work) and the partial report is returned with the error.
func (e *Engine) Run(ctx context.Context, o Options) (*Report, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	conn, err := e.db.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&locked); err != nil {
		return nil, err
	}
	if !locked {
		return nil, ErrBusy
	}
	defer func() {
		// Unlock even if ctx has ended; if that fails the connection is
		// closed, which releases the lock too.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, lockKey); err != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()

	now := e.clock.Now().UTC()
	libs, err := e.libraries(ctx, o.LibraryCode)
	if err != nil {
		return nil, err
	}
	r := newReport(now, o.DryRun, libs)
	var libID *string
	if o.LibraryCode != "" {
		libID = &libs[0].ID
	}
	start := time.Now()
	for _, st := range steps {
		if err := e.runStep(ctx, st, r, libID, now, o); err != nil {
			e.log.WarnContext(ctx, "retention: run stopped", "step", string(st.name), "dry_run", o.DryRun, "error_type", errType(err))
			return r, err
		}
	}
	if o.LibraryCode == "" {
		if err := e.purgeAudit(ctx, r, now, o); err != nil {
			return r, err
		}
	} else {
		r.AuditNote = "skipped: the audit log is shared by all libraries; run without --library to purge it"
	}
	// Counts only: no patron ids or reasons in the log.
	e.log.InfoContext(ctx, "retention: run finished", "dry_run", o.DryRun, "library", o.LibraryCode,
		"loans_anonymised", r.total(StepLoans), "reservations_anonymised", r.total(StepReservations),
		"patrons_archived", r.total(StepArchive), "patrons_anonymised", r.total(StepAnonymise),
		"self_registrations_deleted", r.total(StepSelfRegistrations), "event_signups_deleted", r.total(StepEventSignups),
		"audit_entries_deleted", r.AuditDeleted, "held_back", r.heldBackCount(), "duration", time.Since(start).String())
	return r, nil
}

// libraries returns the libraries of the run, by code.
func (e *Engine) libraries(ctx context.Context, code string) ([]library, error) {
	rows, err := e.db.Query(ctx, `SELECT id::text, code FROM libraries WHERE $1 = '' OR code = $1 ORDER BY code`, code)
	if err != nil {
		return nil, err
	}
	libs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[library])
	if err != nil {
		return nil, err
	}
	if code != "" && len(libs) == 0 {
		return nil, status.Errorf(codes.NotFound, "no library with code %q", code)
	}
	return libs, nil
}

// batch runs fn in one transaction, rolled back on a dry run.
func (e *Engine) batch(ctx context.Context, dry bool, fn func(tx pgx.Tx) error) error {
	err := store.InTx(ctx, e.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if dry {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	return err
}

func errType(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return fmt.Sprintf("%T", err)
}
