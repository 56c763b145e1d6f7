package policystore

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/patronfed/patronfed/policy"
)

// DefaultPollInterval is how often a Reloader checks the active version
// even without a notification.
const DefaultPollInterval = 3 * time.Second

// Options tune a Reloader.
type Options struct {
	// PollInterval is the fallback check; DefaultPollInterval if zero.
	PollInterval time.Duration
	Logger       *slog.Logger
	// Metrics receives patronfed_policy_decision_seconds (nil: none).
	Metrics prometheus.Registerer
}

// Reloader keeps a policy engine on the active version. Decide evaluates
// against an immutable (version, engine) snapshot and reports the version
// that decided, so that the audit log names it exactly even while the
// policy switches.
type Reloader struct {
	store *Store
	log   *slog.Logger
	poll  time.Duration
	lcfg  *pgx.ConnConfig

	snap atomic.Pointer[snapshot]

	decisions *prometheus.HistogramVec // nil without Options.Metrics

	mu     sync.Mutex // serialises refresh
	failed int64      // last version that failed to load, to log it once

	cancel context.CancelFunc
	done   chan struct{}
}

type snapshot struct {
	version int64
	engine  *policy.Engine
}

// NewReloader loads the active version from the database. Call Start to
// follow activations and Close to stop.
func NewReloader(ctx context.Context, st *Store, pool *pgxpool.Pool, o Options) (*Reloader, error) {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	v, err := st.ActiveVersion(ctx)
	if err != nil {
		return nil, err
	}
	_, b, err := st.Get(ctx, v)
	if err != nil {
		return nil, err
	}
	engine, err := policy.NewEngine(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("policystore: active policy version %d: %w", v, err)
	}
	lcfg := pool.Config().ConnConfig.Copy()
	lcfg.RuntimeParams["application_name"] = "patronfed-policy-listener"
	r := &Reloader{store: st, log: o.Logger, poll: o.PollInterval, lcfg: lcfg}
	if o.Metrics != nil {
		// The operator's view of what a policy costs, e.g. after activating
		// an uploaded version: per decision, in the server, under its load.
		r.decisions = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patronfed_policy_decision_seconds",
			Help:    "Time to evaluate one access decision with the active policy.",
			Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 50e-3},
		}, []string{"allowed"})
		if err := o.Metrics.Register(r.decisions); err != nil {
			return nil, fmt.Errorf("policystore: %w", err)
		}
	}
	r.snap.Store(&snapshot{version: v, engine: engine})
	return r, nil
}

// ActiveVersion returns the version this replica decides with.
func (r *Reloader) ActiveVersion() int64 { return r.snap.Load().version }

// Decide evaluates in with the active version (floor included) and returns
// the decision and the version that made it.
func (r *Reloader) Decide(ctx context.Context, in policy.Input) (policy.Decision, int64, error) {
	s := r.snap.Load()
	if r.decisions == nil {
		d, err := s.engine.Decide(ctx, in)
		return d, s.version, err
	}
	start := time.Now()
	d, err := s.engine.Decide(ctx, in)
	r.decisions.WithLabelValues(strconv.FormatBool(d.Allow)).Observe(time.Since(start).Seconds())
	return d, s.version, err
}

// Start follows activations until Close: a LISTEN connection for
// immediate reloads and a ticker as the fallback.
func (r *Reloader) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.listen(ctx) }()
	go func() { defer wg.Done(); r.tick(ctx) }()
	go func() { wg.Wait(); close(r.done) }()
}

// Close stops following activations.
func (r *Reloader) Close() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

func (r *Reloader) tick(ctx context.Context) {
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.refreshLogged(ctx, "poll")
		}
	}
}

func (r *Reloader) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("policy listener disconnected; relying on polling until it reconnects", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, r.poll)
	}
}

func (r *Reloader) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.lcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	// Whatever was activated while we were not listening.
	r.refreshLogged(ctx, "listen")
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		r.refreshLogged(ctx, "notify")
	}
}

func (r *Reloader) refreshLogged(ctx context.Context, trigger string) {
	if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn("policy refresh failed", "trigger", trigger, "error", err)
	}
}

// Refresh loads the active version now if it is not the one in use. The
// replica that activates a version calls it right after committing, so its
// own next decision already uses the new version.
func (r *Reloader) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := r.store.ActiveVersion(ctx)
	if err != nil {
		return err
	}
	cur := r.snap.Load().version
	if v == cur {
		return nil
	}
	_, b, err := r.store.Get(ctx, v)
	if err != nil {
		return err
	}
	engine, err := policy.NewEngine(ctx, b)
	if err != nil {
		if r.failed != v {
			r.failed = v
			r.log.Error("active policy version does not compile on this replica; keeping the previous one",
				"version", v, "kept_version", cur, "error", err)
		}
		return nil
	}
	r.snap.Store(&snapshot{version: v, engine: engine})
	r.log.Info("policy version loaded", "version", v, "previous_version", cur)
	return nil
}
