package pgtest_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/patronfed/patronfed/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func dbOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(p.Path, "/")
}

func TestParallelDatabases(t *testing.T) {
	var names [8]string
	t.Run("group", func(t *testing.T) {
		for i := range 8 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				pool := pgtest.NewPool(t)
				ctx := context.Background()
				var db string
				if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
					t.Fatal(err)
				}
				names[i] = db
				// Same table name in every database: no interference.
				if _, err := pool.Exec(ctx, "CREATE TABLE same_name (i int)"); err != nil {
					t.Fatal(err)
				}
				if _, err := pool.Exec(ctx, "INSERT INTO same_name VALUES ($1)", i); err != nil {
					t.Fatal(err)
				}
				var n, got int
				if err := pool.QueryRow(ctx, "SELECT count(*), max(i) FROM same_name").Scan(&n, &got); err != nil {
					t.Fatal(err)
				}
				if n != 1 || got != i {
					t.Errorf("count=%d max=%d, want 1, %d", n, got, i)
				}
				// The schema was cloned from the migrated template.
				var version int64
				if err := pool.QueryRow(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&version); err != nil {
					t.Fatal(err)
				}
				if version < 1 {
					t.Errorf("template not migrated: version %d", version)
				}
			})
		}
	})
	// The subtests' databases were dropped at their cleanup.
	conn, err := pgx.Connect(context.Background(), pgtest.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, name := range names {
		if name == "" {
			t.Fatal("subtest did not record its database")
		}
		var exists bool
		if err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s not dropped", name)
		}
	}
}

func TestNewDBNameAndURL(t *testing.T) {
	t.Parallel()
	u := pgtest.NewDB(t)
	db := dbOf(t, u)
	if !strings.HasPrefix(db, "t") || !strings.Contains(db, "testnewdbnameandurl") || len(db) > 63 {
		t.Errorf("database name %q", db)
	}
	if want := pgtest.SuperuserURL(db); u != want {
		t.Errorf("NewDB URL %s != SuperuserURL %s", u, want)
	}
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var super bool
	if err := conn.QueryRow(context.Background(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		t.Errorf("not superuser: %v %v", super, err)
	}
}

func TestNewEmptyDB(t *testing.T) {
	t.Parallel()
	conn, err := pgx.Connect(context.Background(), pgtest.NewEmptyDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("empty database has %d tables", n)
	}
}

func TestLongTestNameIsTruncatedToAValidDatabaseName_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa(t *testing.T) {
	t.Parallel()
	db := dbOf(t, pgtest.NewDB(t))
	if len(db) > 63 {
		t.Errorf("name too long: %s", db)
	}
}
