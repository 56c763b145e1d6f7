package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/store"
)

func init() {
	extraCommands["retention"] = retentionCmd
}

const retentionUsage = `usage: patronfed retention run [--dry-run] [--library CODE] [flags]

Runs the retention periods of privacy-rules §3 now, against the database
(DATABASE_URL), as the server does on its schedule: anonymises loan and
reservation history, archives and anonymises idle patron accounts (never
while a debt is open), deletes pending self-registrations, event sign-ups
and old audit log entries. Each library's own periods apply. It shows
progress and ends with a report per library, including who was held back
and why. --dry-run reports what would be done and changes nothing.
Only one run at a time: if another (a server's schedule) holds the lock,
it says so and exits.

`

// retentionClock lets tests run the command at another time.
var retentionClock clock.Clock = clock.Real{}

func retentionCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprint(out, retentionUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("retention needs the command run")
	}
	fs := flag.NewFlagSet("retention run", flag.ContinueOnError)
	db := registerDBFlags(fs, "PostgreSQL URL")
	role := fs.String("db-role", retentionEnvOr("PATRONFED_DB_ROLE", "patronfed_app"), "role to SET ROLE to (env PATRONFED_DB_ROLE); empty keeps the login role")
	dry := fs.Bool("dry-run", false, "report what would be done; change nothing")
	library := fs.String("library", "", "only this library (code, e.g. BRNO); the shared audit log is then left alone")
	batch := fs.Int("batch-size", retention.DefaultBatchSize, "rows per transaction")
	pause := fs.Duration("pause", retention.DefaultPause, "least wait between batches, leaving the database to the desks meanwhile (0 = none)")
	share := fs.Float64("work-share", retention.DefaultWorkShare, "most of its time the run spends working: after a batch that took t, it waits t×(1-share)/share if that is longer than --pause (1 = no limit; with --pause 0 the run goes flat out, e.g. in a maintenance window)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), retentionUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *pause < 0 {
		return fmt.Errorf("--pause %s: must not be negative (0 runs without pauses)", *pause)
	}
	if !(*share > 0 && *share <= 1) {
		return fmt.Errorf("--work-share %v: must be more than 0 and at most 1 (1 = no limit)", *share)
	}
	url, err := db.URL()
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, url, store.PoolOptions{MaxConns: 3, AppRole: *role, ApplicationName: "patronfed-retention"})
	if err != nil {
		return err
	}
	defer pool.Close()

	// Progress: a line when a step starts making progress, then at most
	// one a second.
	var (
		lastStep retention.Step
		lastAt   time.Time
	)
	progress := func(p retention.Progress) {
		if p.Step != lastStep || time.Since(lastAt) >= time.Second {
			fmt.Fprintf(out, "  %-20s %d rows\n", p.Step, p.Rows)
			lastStep, lastAt = p.Step, time.Now()
		}
	}
	if *dry {
		fmt.Fprintln(out, "dry run: every batch is rolled back")
	}
	r, err := retention.New(pool, retentionClock, nil).Run(ctx, retention.Options{
		DryRun: *dry, LibraryCode: *library, BatchSize: *batch, Pause: *pause, WorkShare: *share, Progress: progress,
	})
	if errors.Is(err, retention.ErrBusy) {
		return errors.New("another retention run is in progress (a server's schedule or another command); try later")
	}
	if r != nil {
		fmt.Fprintln(out)
		if werr := r.Write(out); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return fmt.Errorf("retention run stopped: %w (what was committed stays; run again to finish)", err)
	}
	return nil
}

func retentionEnvOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
