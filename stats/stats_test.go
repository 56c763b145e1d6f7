package stats

import (
	"testing"
	"time"
)

func TestCells(t *testing.T) {
	cases := []struct {
		n         int64
		threshold int
		want      Cell
	}{
		{4, 0, Cell{Suppressed: true}},
		{5, 0, Cell{Count: 5}},
		{1, 0, Cell{Suppressed: true}},
		{4, 3, Cell{Suppressed: true}}, // never below MinThreshold
		{9, 10, Cell{Suppressed: true}},
		{10, 10, Cell{Count: 10}},
	}
	for _, c := range cases {
		if got := cell(c.n, c.threshold); got != c.want {
			t.Errorf("cell(%d, %d) = %+v, want %+v", c.n, c.threshold, got, c.want)
		}
	}
	if Threshold(0) != MinThreshold || Threshold(2) != MinThreshold || Threshold(12) != 12 {
		t.Error("Threshold")
	}
}

func TestMonthWindow(t *testing.T) {
	d := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	now := d("2026-03-02T09:00:00Z")
	cases := []struct {
		from, to   string
		start, end string // "" when no month is left
	}{
		// Whole months stay as they are.
		{"2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z", "2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z"},
		// A range that starts or ends within a month covers the whole month.
		{"2025-01-15T10:00:01Z", "2025-02-10T10:00:01Z", "2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z"},
		{"2025-01-31T23:59:59Z", "2025-02-01T00:00:01Z", "2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z"},
		// Another zone: the months are UTC months.
		{"2025-02-01T00:30:00+01:00", "2025-02-01T00:40:00+01:00", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"},
		// The month that has not ended is cut off...
		{"2025-12-10T00:00:00Z", "2026-03-02T08:00:00Z", "2025-12-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"2025-12-10T00:00:00Z", "2027-01-01T00:00:00Z", "2025-12-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		// ... so a range within it, or later, has no month.
		{"2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "", ""},
		{"2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z", "", ""},
	}
	for _, c := range cases {
		m, ok := MonthWindow(d(c.from), d(c.to), now)
		if c.start == "" {
			if ok {
				t.Errorf("[%s, %s): got %v–%v, want no month", c.from, c.to, m.Start(), m.End())
			}
			continue
		}
		if !ok || !m.Start().Equal(d(c.start)) || !m.End().Equal(d(c.end)) {
			t.Errorf("[%s, %s): got %v–%v (%v), want %s–%s", c.from, c.to, m.Start(), m.End(), ok, c.start, c.end)
		}
	}
	if got := LastEndedMonth(now); got != "2026-02" {
		t.Errorf("LastEndedMonth = %s", got)
	}
	// The zero Months (not made by MonthWindow) counts nothing.
	if rows, err := Loans(t.Context(), nil, Scope{}, Months{}, 0); rows != nil || err != nil {
		t.Errorf("Loans over no months: %v, %v", rows, err)
	}
}
