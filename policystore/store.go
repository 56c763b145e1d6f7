package policystore

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/store"
)

// Channel is the PostgreSQL NOTIFY channel an activation signals on.
const Channel = "patronfed_policy"

// BuiltinAuthor is the author name of bundles that ship in the binary.
const BuiltinAuthor = "builtin"

// Activation kinds.
const (
	KindBuiltin  = "builtin"
	KindActivate = "activate"
	KindRollback = "rollback"
)

// lockKey serialises activations across replicas (pg_advisory_xact_lock).
const lockKey = 0x7061_7472_6f6e_01 // "patron" + 1

// Actor is the operator account making a change.
type Actor struct {
	ID       string
	Username string
}

// Version describes a stored bundle.
type Version struct {
	Version         int64
	Description     string
	AuthorID        string
	AuthorUsername  string
	CreatedAt       time.Time
	SHA256          []byte
	ModuleNames     []string
	Active          bool
	LastActivatedAt *time.Time
}

// Activation is one row of the activation history.
type Activation struct {
	ID            int64
	Version       int64
	Kind          string
	ActorID       string
	ActorUsername string
	ActivatedAt   time.Time
}

// Store reads and writes policy bundles and activations.
type Store struct {
	db *pgxpool.Pool
}

// New returns a Store on db.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

// Hash is the SHA-256 of the bundle's canonical JSON (map keys sorted), so
// that the same modules and data always hash alike.
func Hash(b policy.Bundle) ([]byte, error) {
	data := b.Data
	if data == nil {
		data = map[string]any{}
	}
	raw, err := json.Marshal(struct {
		Modules map[string]string `json:"modules"`
		Data    map[string]any    `json:"data"`
	}{b.Modules, data})
	if err != nil {
		return nil, fmt.Errorf("policystore: hashing bundle: %w", err)
	}
	sum := sha256.Sum256(raw)
	return sum[:], nil
}

// EnsureBuiltin stores the binary's built-in policy. On an empty table it
// becomes version 1 and is activated. Later, if this binary's built-in
// policy differs from every stored bundle (a new release), it is stored as
// a candidate for the operator to test and activate; it is never activated
// behind the operator's back.
func (s *Store) EnsureBuiltin(ctx context.Context, now time.Time) error {
	b := policy.Builtin()
	sum, err := Hash(b)
	if err != nil {
		return err
	}
	return store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		var exists, same bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM policy_bundles),
			EXISTS (SELECT 1 FROM policy_bundles WHERE sha256 = $1)`, sum).Scan(&exists, &same); err != nil {
			return err
		}
		switch {
		case !exists:
			if _, err := tx.Exec(ctx, `INSERT INTO policy_bundles (version, modules, data, sha256, description, author_username, created_at)
				VALUES (1, $1, $2, $3, 'built-in policy', $4, $5)`, b.Modules, dataOf(b), sum, BuiltinAuthor, now); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO policy_activations (version, kind, actor_username, activated_at)
				VALUES (1, $1, $2, $3)`, KindBuiltin, BuiltinAuthor, now)
			return err
		case !same:
			_, err := tx.Exec(ctx, `INSERT INTO policy_bundles (modules, data, sha256, description, author_username, created_at)
				VALUES ($1, $2, $3, 'built-in policy of a newer release (not active)', $4, $5)`, b.Modules, dataOf(b), sum, BuiltinAuthor, now)
			return err
		}
		return nil
	})
}

func dataOf(b policy.Bundle) map[string]any {
	if b.Data == nil {
		return map[string]any{}
	}
	return b.Data
}

// Upload stores b as a new version. The caller validates it first.
func (s *Store) Upload(ctx context.Context, b policy.Bundle, description string, by Actor, now time.Time) (Version, error) {
	sum, err := Hash(b)
	if err != nil {
		return Version{}, err
	}
	var v int64
	err = s.db.QueryRow(ctx, `INSERT INTO policy_bundles (modules, data, sha256, description, author_id, author_username, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING version`,
		b.Modules, dataOf(b), sum, description, nullable(by.ID), by.Username, now).Scan(&v)
	if err != nil {
		return Version{}, err
	}
	ver, _, err := s.Get(ctx, v)
	return ver, err
}

const versionCols = `b.version, b.description, coalesce(b.author_id::text, ''), b.author_username, b.created_at, b.sha256,
	(SELECT coalesce(array_agg(k ORDER BY k), '{}') FROM jsonb_object_keys(b.modules) k),
	b.version = (SELECT version FROM policy_activations ORDER BY id DESC LIMIT 1),
	(SELECT max(activated_at) FROM policy_activations a WHERE a.version = b.version)`

func scanVersion(row pgx.Row, extra ...any) (Version, error) {
	var v Version
	dst := append([]any{&v.Version, &v.Description, &v.AuthorID, &v.AuthorUsername, &v.CreatedAt, &v.SHA256,
		&v.ModuleNames, &v.Active, &v.LastActivatedAt}, extra...)
	err := row.Scan(dst...)
	return v, err
}

// Get returns a version and its bundle; a NOT_FOUND status if there is no
// such version.
func (s *Store) Get(ctx context.Context, version int64) (Version, policy.Bundle, error) {
	var b policy.Bundle
	v, err := scanVersion(s.db.QueryRow(ctx, `SELECT `+versionCols+`, b.modules, b.data FROM policy_bundles b WHERE b.version = $1`, version),
		&b.Modules, &b.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return Version{}, policy.Bundle{}, status.Errorf(codes.NotFound, "policy version %d does not exist", version)
	}
	return v, b, err
}

// List returns up to limit versions below before (0: from the newest),
// newest first.
func (s *Store) List(ctx context.Context, before int64, limit int) ([]Version, error) {
	rows, err := s.db.Query(ctx, `SELECT `+versionCols+` FROM policy_bundles b
		WHERE $1 = 0 OR b.version < $1 ORDER BY b.version DESC LIMIT $2`, before, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scanVersion(r) })
}

// ActiveVersion returns the version of the latest activation.
func (s *Store) ActiveVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRow(ctx, `SELECT version FROM policy_activations ORDER BY id DESC LIMIT 1`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errors.New("policystore: no active policy (EnsureBuiltin has not run)")
	}
	return v, err
}

// Activate makes version the active policy and returns the version active
// before. Activating the active version changes nothing. The caller has
// run the bundle's tests.
func (s *Store) Activate(ctx context.Context, version int64, by Actor, now time.Time) (prev int64, err error) {
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if prev, err = lockActive(ctx, tx); err != nil {
			return err
		}
		if prev == version {
			return nil
		}
		return insertActivation(ctx, tx, version, KindActivate, by, now)
	})
	return prev, err
}

// Rollback re-activates a version that was active before: version, or,
// when version is 0, the latest one active before the current one. It
// returns the version it activated and the one it replaced.
func (s *Store) Rollback(ctx context.Context, version int64, by Actor, now time.Time) (to, prev int64, err error) {
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if prev, err = lockActive(ctx, tx); err != nil {
			return err
		}
		to = version
		if to == 0 {
			err := tx.QueryRow(ctx, `SELECT version FROM policy_activations WHERE version <> $1 ORDER BY id DESC LIMIT 1`, prev).Scan(&to)
			if errors.Is(err, pgx.ErrNoRows) {
				return status.Error(codes.FailedPrecondition, "no earlier policy version has been active")
			}
			if err != nil {
				return err
			}
		} else {
			var was bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM policy_activations WHERE version = $1)`, to).Scan(&was); err != nil {
				return err
			}
			if !was {
				return status.Errorf(codes.FailedPrecondition,
					"policy version %d has never been active; activate it (its tests must pass) instead of rolling back to it", to)
			}
		}
		if to == prev {
			return nil
		}
		return insertActivation(ctx, tx, to, KindRollback, by, now)
	})
	return to, prev, err
}

// lockActive takes the activation lock and returns the active version.
func lockActive(ctx context.Context, tx pgx.Tx) (int64, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
		return 0, err
	}
	var v int64
	err := tx.QueryRow(ctx, `SELECT version FROM policy_activations ORDER BY id DESC LIMIT 1`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func insertActivation(ctx context.Context, tx pgx.Tx, version int64, kind string, by Actor, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO policy_activations (version, kind, actor_id, actor_username, activated_at)
		VALUES ($1, $2, $3, $4, $5)`, version, kind, nullable(by.ID), by.Username, now)
	return err
}

// nullable maps "" to NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Activations returns up to limit activations with ids below before (0:
// from the newest), newest first.
func (s *Store) Activations(ctx context.Context, before int64, limit int) ([]Activation, error) {
	rows, err := s.db.Query(ctx, `SELECT id, version, kind, coalesce(actor_id::text, ''), actor_username, activated_at
		FROM policy_activations WHERE $1 = 0 OR id < $1 ORDER BY id DESC LIMIT $2`, before, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Activation, error) {
		var a Activation
		err := r.Scan(&a.ID, &a.Version, &a.Kind, &a.ActorID, &a.ActorUsername, &a.ActivatedAt)
		return a, err
	})
}

// ModuleNames returns the sorted file names of b.
func ModuleNames(b policy.Bundle) []string {
	return slices.Sorted(maps.Keys(b.Modules))
}
