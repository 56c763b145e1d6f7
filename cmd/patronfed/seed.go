package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/bench/seed"
	"github.com/patronfed/patronfed/config"
	"github.com/patronfed/patronfed/demo"
	"github.com/patronfed/patronfed/pglocal"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/store"
)

func init() { extraCommands["seed"] = seedCmd }

// seedCmd loads a generated consortium at scale (package bench/seed) for
// load and performance runs: into --database-url, or else into the
// private PostgreSQL of `patronfed dev` under --data-dir (started, migrated
// and stopped again, with the dev keys so `patronfed dev` can decrypt).
func seedCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(out)
	var cfg config.Config
	cfg.Register(fs)
	dataDir := fs.String("data-dir", ".data", "without --database-url: the `patronfed dev` data directory to seed")
	pgPort := fs.Int("pg-port", devPGPort, "without --database-url: port of the private PostgreSQL")
	var o seed.Options
	fs.IntVar(&o.Patrons, "patrons", 1_000_000, "patrons")
	fs.IntVar(&o.Libraries, "libraries", 30, "member libraries (LIB01 is the largest)")
	fs.IntVar(&o.Items, "items", 0, "items (default: as many as patrons)")
	fs.IntVar(&o.Loans, "loans", 0, "loans, active and history (default: 5 per patron)")
	fs.Float64Var(&o.ActiveShare, "active-share", 0.04, "share of loans still active")
	fs.Float64Var(&o.ExpiredShare, "expired-share", 0.21, "share of returned loans past the 12-month history retention")
	fs.Float64Var(&o.ConsentShare, "consent-share", 0.25, "share of patrons sharing their record with other libraries")
	fs.IntVar(&o.AuditRows, "audit-rows", 0, fmt.Sprintf("audit log entries: desks' reads of patrons over the last %d days (default: one per patron; negative: none)", seed.AuditDays))
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed: the same seed gives the same consortium")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprint(out, "Usage: patronfed seed [flags]\n\nLoads a generated consortium (COPY) for load runs. Staff accounts are\nlibNN.circ, libNN.reg, libNN.manager with the demo password; every patron's PIN is the demo PIN.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := cfg.DatabaseURL
	if url == "" {
		abs, err := filepath.Abs(*dataDir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return err
		}
		pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(abs, "pg"), Port: *pgPort, Durable: true})
		if err != nil {
			return err
		}
		defer pg.Stop()
		if err := pg.EnsureDatabase(ctx, "patronfed"); err != nil {
			return err
		}
		url = pg.URL("patronfed")
		if err := devKeys(filepath.Join(abs, "dev-keys.env"), &cfg); err != nil {
			return err
		}
	}
	if cfg.PIIKeys == "" || cfg.PIIIndexKey == "" {
		return errors.New("PATRONFED_PII_KEYS and PATRONFED_PII_INDEX_KEY are required (the server's keys, so it can decrypt)")
	}
	kr, err := pii.ParseKeyring(cfg.PIIKeys, cfg.PIIIndexKey)
	if err != nil {
		return fmt.Errorf("PII keys: %w", err)
	}
	if err := store.MigrateUp(ctx, url); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	o.Password, o.PIN = demo.Password, demo.PIN
	if !*quiet {
		o.Progress = os.Stderr
	}
	fmt.Fprintf(out, "seeding %d patrons over %d libraries ...\n", o.Patrons, o.Libraries)
	res, err := seed.Run(ctx, pool, kr, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded in %s: %d patrons, %d cards, %d identifiers, %d consents (%d events), %d items of %d titles, %d loans (%d active, %d past retention), %d reservations (%d waiting, of them %d in titles' queues; %d on hold shelves), %d audit entries\n",
		res.Duration.Round(time.Second), res.Patrons, res.Cards, res.Identifiers, res.Consents, res.ConsentEvents,
		res.Items, res.Records, res.Loans, res.ActiveLoans, res.ExpiredLoans, res.Reservations, res.Waiting, res.TitleWaiting, res.Ready, res.AuditEntries)
	fmt.Fprintf(out, "staff: lib01.circ lib01.reg lib01.manager ... lib%02d.*, password %q; patrons' PIN %q\n", len(res.Libraries), demo.Password, demo.PIN)
	return nil
}
