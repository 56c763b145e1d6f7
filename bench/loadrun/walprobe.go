package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// walSample is the cluster's WAL and checkpoint counters (pg_stat_wal,
// pg_stat_bgwriter): whether a window's slow reads coincide with a
// checkpoint, full-page images or backends writing WAL because the WAL
// buffers were full.
type walSample struct {
	records, fpi, bytes, buffersFull, writes, syncs int64
	checkpoints                                     int64 // timed and requested
	ok                                              bool
}

func (h *harness) walSample(url string) walSample {
	c, err := pgx.Connect(h.ctx, url)
	if err != nil {
		return walSample{}
	}
	defer c.Close(h.ctx)
	var s walSample
	err = c.QueryRow(h.ctx, `SELECT w.wal_records, w.wal_fpi, w.wal_bytes::bigint, w.wal_buffers_full, w.wal_write, w.wal_sync,
			b.checkpoints_timed + b.checkpoints_req
		FROM pg_stat_wal w, pg_stat_bgwriter b`).Scan(&s.records, &s.fpi, &s.bytes, &s.buffersFull, &s.writes, &s.syncs, &s.checkpoints)
	s.ok = err == nil
	return s
}

func (b walSample) describe(a walSample) string {
	if !a.ok || !b.ok {
		return "WAL: –"
	}
	return fmt.Sprintf("WAL %.1f MB in %d records, %d full-page images, %d writes and %d flushes, %d writes because the WAL buffers were full, %d checkpoints",
		float64(b.bytes-a.bytes)/1e6, b.records-a.records, b.fpi-a.fpi, b.writes-a.writes, b.syncs-a.syncs,
		b.buffersFull-a.buffersFull, b.checkpoints-a.checkpoints)
}

// waitSampler polls pg_stat_activity every interval while a window runs
// and counts what each kind of active backend was doing: on a CPU (no
// wait event) or waiting, and for what. The kinds are the server's audit
// group commit, its patron view read, its other statements, and the
// retention run. It is the direct observation of where a read's time
// goes inside PostgreSQL; its own queries cost a little CPU (one
// catalogue view scan per interval), so it is off unless -wait-sample is
// set.
type waitSampler struct {
	mu      sync.Mutex
	counts  map[string]map[string]int // kind → wait → samples
	samples int
	stop    context.CancelFunc
	done    chan struct{}
}

// backendKind names a pg_stat_activity row by its application and query.
func backendKind(app, query string) string {
	switch {
	case app == "patronfed-retention":
		return "retention"
	case app != "patronfed":
		return ""
	case strings.HasPrefix(query, "WITH head AS"):
		return "audit commit"
	case strings.HasPrefix(query, "SELECT p.id::text"):
		return "patron view"
	default:
		return "other server statements"
	}
}

func (h *harness) startWaitSampler(url string, every time.Duration) *waitSampler {
	ctx, cancel := context.WithCancel(h.ctx)
	w := &waitSampler{counts: map[string]map[string]int{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return
		}
		defer c.Close(context.WithoutCancel(ctx))
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rows, err := c.Query(ctx, `SELECT coalesce(application_name, ''), left(query, 24),
					coalesce(wait_event_type || ':' || wait_event, 'on CPU')
				FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND datname = current_database()`)
			if err != nil {
				return
			}
			w.mu.Lock()
			w.samples++
			for rows.Next() {
				var app, q, wait string
				if rows.Scan(&app, &q, &wait) != nil {
					continue
				}
				k := backendKind(app, q)
				if k == "" {
					continue
				}
				if w.counts[k] == nil {
					w.counts[k] = map[string]int{}
				}
				w.counts[k][wait]++
			}
			w.mu.Unlock()
			rows.Close()
		}
	}()
	return w
}

// finish stops the sampler and describes its counts: for each kind, the
// mean number of its backends active at a sample and the share of each
// wait among them.
func (w *waitSampler) finish() string {
	if w == nil {
		return ""
	}
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.samples == 0 {
		return "waits: no samples; "
	}
	kinds := make([]string, 0, len(w.counts))
	for k := range w.counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		total := 0
		waits := make([]string, 0, len(w.counts[k]))
		for wait, n := range w.counts[k] {
			total += n
			waits = append(waits, wait)
		}
		sort.Slice(waits, func(i, j int) bool { return w.counts[k][waits[i]] > w.counts[k][waits[j]] })
		var ws []string
		for _, wait := range waits[:min(len(waits), 5)] {
			ws = append(ws, fmt.Sprintf("%s %.0f %%", wait, 100*float64(w.counts[k][wait])/float64(total)))
		}
		parts = append(parts, fmt.Sprintf("%s %.2f active (%s)", k, float64(total)/float64(w.samples), strings.Join(ws, ", ")))
	}
	return fmt.Sprintf("waits over %d samples: %s; ", w.samples, strings.Join(parts, "; "))
}

// waitSampler starts a sampler if -wait-sample is set; nil otherwise
// (finish of nil is "").
func (h *harness) waitSampler(url string) *waitSampler {
	if h.f.waitSample <= 0 {
		return nil
	}
	return h.startWaitSampler(url, h.f.waitSample)
}
