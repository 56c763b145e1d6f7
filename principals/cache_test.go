package principals

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// start runs a cache listening on a fresh test database.
func start(t *testing.T) (*Cache, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.NewDB(t)
	db, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = "principals-test-listener"
	c := NewCache(time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "the listener is live", c.Live)
	return c, db
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func account(t *testing.T, db *pgxpool.Pool, name string) string {
	t.Helper()
	var id string
	if err := db.QueryRow(context.Background(), `INSERT INTO accounts (kind, username, display_name, password_hash)
		VALUES ('operator', $1, $1, 'x') RETURNING id::text`, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func cached(c *Cache, id string) bool { _, ok := c.Get(id); return ok }

func put(c *Cache, id string) {
	c.Put(c.Generation(), identity.Principal{Kind: identity.KindOperator, ID: id})
}

// A change to a column the principal is built from, or a deletion, drops
// the entry through the trigger's notification; other updates (the login
// trail) do not.
func TestNotificationsInvalidate(t *testing.T) {
	t.Parallel()
	c, db := start(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, sql string }{
		{"roles", `UPDATE accounts SET roles = '{manager}' WHERE id = $1`},
		{"disabled", `UPDATE accounts SET disabled_at = now() WHERE id = $1`},
		{"username", `UPDATE accounts SET username = username || '-x' WHERE id = $1`},
		{"deleted", `DELETE FROM accounts WHERE id = $1`},
	} {
		id := account(t, db, "op-"+tc.name)
		put(c, id)
		if !cached(c, id) {
			t.Fatalf("%s: not cached after Put", tc.name)
		}
		if _, err := db.Exec(ctx, tc.sql, id); err != nil {
			t.Fatal(err)
		}
		eventually(t, tc.name+" invalidates the entry", func() bool { return !cached(c, id) })
	}

	// The login trail is not part of the principal. Notifications arrive
	// in commit order, so once the marker's has arrived, one for the
	// trail update would have too.
	kept, marker := account(t, db, "op-kept"), account(t, db, "op-marker")
	put(c, kept)
	put(c, marker)
	if _, err := db.Exec(ctx, `UPDATE accounts SET last_login_at = now(), last_login_ip = '127.0.0.1', password_hash = 'y' WHERE id = $1`, kept); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE accounts SET roles = '{x}' WHERE id = $1`, marker); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the marker is invalidated", func() bool { return !cached(c, marker) })
	if !cached(c, kept) {
		t.Error("an update of the login trail invalidated the principal")
	}
}

// A patron's principal follows archiving and anonymisation.
func TestPatronNotifications(t *testing.T) {
	t.Parallel()
	c, db := start(t)
	ctx := context.Background()
	var lib, id string
	if err := db.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ('TST', 'Test', 'CZ') RETURNING id::text`).Scan(&lib); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO patrons (home_library_id) VALUES ($1) RETURNING id::text`, lib).Scan(&id); err != nil {
		t.Fatal(err)
	}
	put(c, id)
	if _, err := db.Exec(ctx, `UPDATE patrons SET archived_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "archiving invalidates the patron", func() bool { return !cached(c, id) })
	put(c, id)
	if _, err := db.Exec(ctx, `UPDATE patrons SET anonymised_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "anonymising invalidates the patron", func() bool { return !cached(c, id) })
}

// A row read while an invalidation happened is not cached: it may be the
// old row.
func TestStaleReadIsNotCached(t *testing.T) {
	t.Parallel()
	c := NewCache(time.Hour, nil)
	c.setLive(true)
	gen := c.Generation()
	c.Invalidate("a") // the change commits while "a" is being read
	c.Put(gen, identity.Principal{ID: "a"})
	if cached(c, "a") {
		t.Fatal("a row read before an invalidation was cached")
	}
	put(c, "a")
	if !cached(c, "a") {
		t.Fatal("a fresh row was not cached")
	}
}

// Nothing is cached while not listening, and entries expire.
func TestNotLiveAndExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewCache(time.Minute, func() time.Time { return now })
	put(c, "a")
	if cached(c, "a") {
		t.Fatal("cached while not listening")
	}
	c.setLive(true)
	put(c, "a")
	if !cached(c, "a") {
		t.Fatal("not cached while listening")
	}
	now = now.Add(61 * time.Second)
	if cached(c, "a") {
		t.Fatal("entry outlived its TTL")
	}
	put(c, "a")
	c.setLive(false)
	if cached(c, "a") {
		t.Fatal("entry survived losing the listener")
	}
}

// When the listening connection dies the cache is emptied and off until
// it is listening again: notifications sent meanwhile are never missed.
func TestListenerLoss(t *testing.T) {
	t.Parallel()
	c, db := start(t)
	ctx := context.Background()
	id := account(t, db, "op-loss")
	put(c, id)
	var killed bool
	if err := db.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'principals-test-listener' AND datname = current_database()`).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminating the listener: %v %v", killed, err)
	}
	eventually(t, "the cache notices the loss", func() bool { return !cached(c, id) })
	eventually(t, "the listener reconnects", c.Live)
	put(c, id)
	if !cached(c, id) {
		t.Fatal("not caching after reconnecting")
	}
	if _, err := db.Exec(ctx, `UPDATE accounts SET disabled_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a notification after reconnecting invalidates", func() bool { return !cached(c, id) })
}
