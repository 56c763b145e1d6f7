package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolOptions configures Open. Zero values keep pgx's defaults.
type PoolOptions struct {
	// MaxConns is the pool size (pgx default: max(4, GOMAXPROCS)).
	MaxConns int32
	// MinConns connections are kept open.
	MinConns int32
	// MaxConnLifetime / MaxConnIdleTime recycle connections (pgx defaults:
	// 1h / 30m).
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// ConnectTimeout bounds establishing one connection (default: none
	// beyond the context).
	ConnectTimeout time.Duration
	// AppRole, if set, is the role every connection switches to with
	// SET ROLE right after connecting. The server runs as a role that
	// cannot UPDATE or DELETE the audit log; the login role must be a
	// member of it.
	AppRole string
	// ApplicationName is reported in pg_stat_activity (default
	// "patronfed").
	ApplicationName string
	// StatementTimeout and LockTimeout set the statement_timeout and
	// lock_timeout session settings (0: server default). A statement
	// timeout surfaces from Status as DeadlineExceeded, a lock timeout as
	// Unavailable.
	StatementTimeout time.Duration
	LockTimeout      time.Duration
	// Metrics, if set, times every statement (register
	// Metrics.Collectors(pool) to serve them).
	Metrics *Metrics
}

// Open creates a connection pool for url, switches every connection to
// o.AppRole (if set) and pings the database before returning.
func Open(ctx context.Context, url string, o PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parsing database URL: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.MinConns > 0 {
		cfg.MinConns = o.MinConns
	}
	if o.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = o.MaxConnLifetime
	}
	if o.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = o.MaxConnIdleTime
	}
	if o.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	}
	rp := cfg.ConnConfig.RuntimeParams
	if o.ApplicationName != "" {
		rp["application_name"] = o.ApplicationName
	} else if rp["application_name"] == "" {
		rp["application_name"] = "patronfed"
	}
	if o.StatementTimeout > 0 {
		rp["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	if o.LockTimeout > 0 {
		rp["lock_timeout"] = strconv.FormatInt(o.LockTimeout.Milliseconds(), 10)
	}
	if o.Metrics != nil {
		cfg.ConnConfig.Tracer = o.Metrics
	}
	if o.AppRole != "" {
		setRole := "SET ROLE " + pgx.Identifier{o.AppRole}.Sanitize()
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			if _, err := c.Exec(ctx, setRole); err != nil {
				return fmt.Errorf("store: SET ROLE %s: %w", o.AppRole, err)
			}
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connecting to the database: %w", err)
	}
	return pool, nil
}
