package rights_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/rights"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// tracer records every statement and its arguments.
type tracer struct {
	mu   sync.Mutex
	sql  []string
	args [][]any
}

func (t *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	t.mu.Lock()
	t.sql, t.args = append(t.sql, d.SQL), append(t.args, d.Args)
	t.mu.Unlock()
	return ctx
}

func (t *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestExtractReadsByIndex: the patron's own data extract (every section,
// the widest scope) finds each section's rows through an index, never by
// scanning a table: on a consortium's data every table it reads holds
// millions of rows, of which one patron has a handful. With sequential
// scans priced out, a plan that still has one has no index to use.
func TestExtractReadsByIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracer{}
	cfg.ConnConfig.Tracer = tr
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	kr, err := pii.ParseKeyring(pii.GenerateKeyringSpec())
	if err != nil {
		t.Fatal(err)
	}
	var id string
	if err := db.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ('GEN', 'Generated', 'CZ') RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if err := db.QueryRow(ctx, `INSERT INTO patrons (home_library_id, first_name, last_name, permanent_address, registered_at, created_at, updated_at)
		VALUES ($1, 'Jana', 'Nováková', 'Masarykova 12', $2, $2, $2) RETURNING id::text`, id, now).Scan(&id); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	tr.sql, tr.args = nil, nil
	tr.mu.Unlock()
	if _, err := rights.Build(ctx, db, kr, id, rights.Scope{Self: true}, now); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	sqls, args := tr.sql, tr.args
	tr.mu.Unlock()
	if len(sqls) < 10 {
		t.Fatalf("only %d statements to check", len(sqls))
	}
	for i, sql := range sqls {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN (COSTS OFF) "+sql, args[i]...)
			if err != nil {
				return err
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if text := strings.Join(plan, "\n"); strings.Contains(text, "Seq Scan") {
				t.Errorf("the extract scans a table:\n%s\n%s", strings.TrimSpace(sql), text)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}
