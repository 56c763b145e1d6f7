package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Schema migrations.
//
// The SQL files in store/migrations (NNNNN_name.sql, goose format:
// "-- +goose Up" / "-- +goose Down", with "-- +goose StatementBegin/End"
// around statements containing semicolons such as function bodies) are
// embedded into the binary here. Each file runs in its own transaction and
// the applied versions are recorded in the goose_db_version table.
//
// Why goose: it supports down migrations and a status listing; its Provider
// API takes an fs.FS (so the migrations are embedded and the binary is
// self-contained) and a *sql.DB, keeps no global state (we disable its
// global Go-migration registry), and serialises concurrent migrators with a
// PostgreSQL advisory lock (several replicas starting at once).
//
//go:embed migrations/*.sql
var embedded embed.FS

// Migrations returns the embedded migration files (file names at the root).
func Migrations() fs.FS {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(err) // cannot happen: the directory is embedded
	}
	return sub
}

// MigrationStatus describes one known migration.
type MigrationStatus struct {
	Version   int64
	Name      string    // file name, e.g. "00001_foundation.sql"
	Applied   bool      // false: pending
	AppliedAt time.Time // zero when pending
}

// String formats s for `patronfed migrate status`.
func (s MigrationStatus) String() string {
	if !s.Applied {
		return fmt.Sprintf("%-40s pending", s.Name)
	}
	return fmt.Sprintf("%-40s applied %s", s.Name, s.AppliedAt.UTC().Format(time.RFC3339))
}

// MigrateUp applies all pending migrations to the database at url. The URL
// must be of a role allowed to create the schema (not the app role).
func MigrateUp(ctx context.Context, url string) error {
	return migrateUp(ctx, url, Migrations())
}

// MigrateDown rolls back the latest steps applied migrations; steps <= 0
// rolls back all of them (to version 0). Rolling back more than is applied
// stops at version 0.
func MigrateDown(ctx context.Context, url string, steps int) error {
	return migrateDown(ctx, url, Migrations(), steps)
}

// MigrateStatus lists every embedded migration, in version order, with
// whether it has been applied to the database at url.
func MigrateStatus(ctx context.Context, url string) ([]MigrationStatus, error) {
	return migrateStatus(ctx, url, Migrations())
}

func migrateUp(ctx context.Context, url string, fsys fs.FS) error {
	return withProvider(ctx, url, fsys, func(p *goose.Provider) error {
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("store: migrate up: %w", migrationError(err))
		}
		return nil
	})
}

func migrateDown(ctx context.Context, url string, fsys fs.FS, steps int) error {
	return withProvider(ctx, url, fsys, func(p *goose.Provider) error {
		target := int64(0)
		if steps > 0 {
			st, err := p.Status(ctx)
			if err != nil {
				return fmt.Errorf("store: migrate down: %w", err)
			}
			var applied []int64
			for _, s := range st {
				if s.State == goose.StateApplied {
					applied = append(applied, s.Source.Version)
				}
			}
			if steps >= len(applied) {
				target = 0
			} else {
				target = applied[len(applied)-steps-1]
			}
		}
		if _, err := p.DownTo(ctx, target); err != nil {
			return fmt.Errorf("store: migrate down: %w", migrationError(err))
		}
		return nil
	})
}

func migrateStatus(ctx context.Context, url string, fsys fs.FS) ([]MigrationStatus, error) {
	var out []MigrationStatus
	err := withProvider(ctx, url, fsys, func(p *goose.Provider) error {
		st, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("store: migrate status: %w", err)
		}
		for _, s := range st {
			out = append(out, MigrationStatus{
				Version:   s.Source.Version,
				Name:      path.Base(s.Source.Path),
				Applied:   s.State == goose.StateApplied,
				AppliedAt: s.AppliedAt,
			})
		}
		return nil
	})
	return out, err
}

// migrationError names the failed migration file in goose's partial error.
func migrationError(err error) error {
	var pe *goose.PartialError
	if errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil && pe.Err != nil {
		return fmt.Errorf("%s (%d applied before it in this run): %w", path.Base(pe.Failed.Source.Path), len(pe.Applied), pe.Err)
	}
	return err
}

// withProvider opens a database/sql handle (pgx stdlib) on url and a goose
// provider over fsys, runs fn, and closes both.
func withProvider(ctx context.Context, url string, fsys fs.FS, fn func(*goose.Provider) error) (err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("store: parsing database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer func() { err = errors.Join(err, db.Close()) }()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithSessionLocker(locker),
	)
	if err != nil {
		return fmt.Errorf("store: loading migrations: %w", err)
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: connecting to the database: %w", err)
	}
	return fn(p)
}
