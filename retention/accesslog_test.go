package retention_test

import (
	"testing"
	"time"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/retention"
)

// TestAccessLogKeptTwoMonthsByDefault (privacy-rules §3 "server and access
// logs: 2 months, then deleted"): with every library on the default
// setting, the access log (audit_log) keeps an entry for two months and
// the next run after that deletes it; the rest of the chain still
// verifies. (TestPeriods covers a library with a longer setting.)
func TestAccessLogKeptTwoMonthsByDefault(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := w.library("AAA"), w.library("BBB")
	p := w.patron(a, epoch)
	aw := audit.NewWriter(w.app, w.clock, nil)
	for _, at := range []time.Time{epoch, epoch.Add(time.Minute), months(1)} {
		if err := aw.Record(w.ctx, audit.Entry{At: at, ActorKind: "staff", ActorLibraryID: b, Action: "patron.read", PatronID: p, Allowed: true, PolicyVersion: 1}); err != nil {
			t.Fatal(err)
		}
	}
	aw.Close()
	left := func() int64 { return w.count(`SELECT count(*) FROM audit_log`) }

	w.clock.Set(months(2).Add(-time.Hour))
	if r := w.run(retention.Options{}); left() != 3 || r.AuditDeleted != 0 {
		t.Errorf("before two months: %d entries left, %d deleted; want 3, 0", left(), r.AuditDeleted)
	}
	w.clock.Set(months(2).Add(2 * time.Minute))
	if r := w.run(retention.Options{}); left() != 1 || r.AuditDeleted != 2 {
		t.Errorf("after two months: %d entries left, %d deleted; want 1, 2", left(), r.AuditDeleted)
	}
	w.clock.Set(months(3).Add(time.Hour))
	if w.run(retention.Options{}); left() != 0 {
		t.Errorf("two months after the last entry: %d left, want 0", left())
	}
	if res, err := audit.Verify(w.ctx, w.app); err != nil || !res.OK {
		t.Errorf("audit chain after the purges: %+v %v", res, err)
	}
}
