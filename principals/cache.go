package principals

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/identity"
)

// Channel is the PostgreSQL notification channel the triggers of migration
// 00009 notify with the id of a changed account or patron.
const Channel = "patronfed_principals"

const (
	// DefaultTTL bounds how long an entry is trusted even without a
	// notification: a safety net for changes made with triggers disabled.
	DefaultTTL = time.Minute
	// maxEntries bounds the cache; it is cleared when full (a consortium
	// has hundreds of staff, the OPAC many patrons: the clear is rare and
	// costs one lookup per caller).
	maxEntries = 50_000
)

// Cache holds the principals of recent callers. It is safe for concurrent
// use. Until Run is listening it caches nothing, so every Get misses.
type Cache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	live    bool   // listening: notifications will arrive
	gen     uint64 // bumped by every invalidation
	entries map[string]entry
}

type entry struct {
	p       identity.Principal
	expires time.Time
}

// NewCache returns a cache whose entries live at most ttl (DefaultTTL if 0).
// now is the clock for expiry (time.Now if nil): the cache bounds staleness
// in wall time, so it does not follow a test clock.
func NewCache(ttl time.Duration, now func() time.Time) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{ttl: ttl, now: now, entries: map[string]entry{}}
}

// Get returns the cached principal of id (an account or patron id).
func (c *Cache) Get(id string) (identity.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || !c.live {
		return identity.Principal{}, false
	}
	if c.now().After(e.expires) {
		delete(c.entries, id)
		return identity.Principal{}, false
	}
	return e.p, true
}

// Generation is taken before reading a principal from the database and
// handed to Put: an invalidation in between makes Put drop the (possibly
// stale) row instead of caching it.
func (c *Cache) Generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Put caches p, read from the database after Generation returned gen.
func (c *Cache) Put(gen uint64, p identity.Principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if len(c.entries) >= maxEntries {
		clear(c.entries)
	}
	p.TokenID = ""
	c.entries[p.ID] = entry{p: p, expires: c.now().Add(c.ttl)}
}

// Invalidate forgets id. The replica that changes an account calls it right
// after committing, so its own next request already reads the new row;
// other replicas follow the notification.
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}

// setLive switches caching on (after LISTEN succeeded) or off (the
// connection is lost: notifications may be missed). Either way the entries
// are dropped, since changes made while not listening were not seen.
func (c *Cache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.entries)
}

// Run listens for changes on a dedicated connection until ctx ends,
// reconnecting with backoff; while it is not listening the cache is off.
func (c *Cache) Run(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.listen(ctx, cfg)
		c.setLive(false)
		if ctx.Err() != nil {
			return
		}
		log.Warn("principal cache listener disconnected; every call reads the account until it reconnects",
			"error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (c *Cache) listen(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	c.setLive(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		c.Invalidate(n.Payload)
	}
}

// Live reports whether the cache is listening (and so caching).
func (c *Cache) Live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}
