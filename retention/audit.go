package retention

import (
	"context"
	"time"
)

// purgeAudit deletes the audit log entries older than the longest
// audit_retention_months of any library: the log is one hash chain shared
// by all libraries, and the breach tools must cover every library's kept
// period. It goes through audit_purge_before (migration 00003), which
// leaves an anchor so the remaining chain still verifies, in steps of
// about a batch of rows: each call holds the chain head that audit writers
// wait for, so no call may take long.
func (e *Engine) purgeAudit(ctx context.Context, r *Report, now time.Time, o Options) error {
	var cutoff *time.Time
	if err := e.db.QueryRow(ctx, `SELECT (($1::timestamptz AT TIME ZONE 'UTC')
		- make_interval(months => max(audit_retention_months))) AT TIME ZONE 'UTC' FROM library_settings`, now).Scan(&cutoff); err != nil {
		return err
	}
	if cutoff == nil {
		r.AuditNote = "no libraries: nothing to purge"
		return nil
	}
	r.AuditCutoff = *cutoff
	if o.DryRun {
		// What audit_purge_before would delete: every row before the first
		// one at or after the cutoff.
		return e.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE seq < coalesce(
			(SELECT min(seq) FROM audit_log WHERE at >= $1), (SELECT max(seq) + 1 FROM audit_log), 0)`, *cutoff).Scan(&r.AuditDeleted)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := *cutoff
		t := e.now()
		var step *time.Time
		if err := e.db.QueryRow(ctx, `SELECT (SELECT at FROM audit_log ORDER BY seq OFFSET $1 LIMIT 1)`, o.BatchSize).Scan(&step); err != nil {
			return err
		}
		if step != nil && step.Before(c) {
			c = *step
		}
		var n int64
		if err := e.db.QueryRow(ctx, `SELECT audit_purge_before($1)`, c).Scan(&n); err != nil {
			return err
		}
		r.AuditDeleted += n
		if o.Progress != nil {
			o.Progress(Progress{Step: "audit_log", Rows: r.AuditDeleted})
		}
		switch {
		case c.Equal(*cutoff):
			return nil
		case n == 0:
			// Many entries share one time: take the rest in one call.
			if err := e.db.QueryRow(ctx, `SELECT audit_purge_before($1)`, *cutoff).Scan(&n); err != nil {
				return err
			}
			r.AuditDeleted += n
			return nil
		}
		if err := e.pause(ctx, o, e.now().Sub(t)); err != nil {
			return err
		}
	}
}
