package circulation

import (
	"slices"
	"testing"
	"time"
)

func TestDebtsReasons(t *testing.T) {
	until := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	d := PatronDebts{
		UnreturnedItems: []DebtItem{{Barcode: "A"}, {Barcode: "B"}},
		UnpaidFees:      []DebtFee{{Amount: 1250, Currency: "CZK"}, {Amount: 50, Currency: "EUR"}, {Amount: 5, Currency: "CZK"}},
		Suspended:       true, SuspendedUntil: &until,
	}
	want := []string{
		"patron has 2 unreturned items",
		"patron has 3 unpaid fees totalling 12.55 CZK and 0.50 EUR",
		"patron's services are suspended until 2026-04-01",
	}
	if got := d.Reasons(); !slices.Equal(got, want) {
		t.Errorf("Reasons() = %q, want %q", got, want)
	}
	if !d.Any() {
		t.Error("Any() = false")
	}
	if (PatronDebts{}).Any() || len((PatronDebts{}).Reasons()) != 0 {
		t.Error("no debts reported as debts")
	}
}

func TestOverdueDays(t *testing.T) {
	due := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		after time.Duration
		want  int
	}{{-time.Hour, 0}, {0, 0}, {time.Minute, 1}, {24 * time.Hour, 1}, {24*time.Hour + time.Second, 2}} {
		if got := OverdueDays(due, due.Add(c.after)); got != c.want {
			t.Errorf("OverdueDays(+%v) = %d, want %d", c.after, got, c.want)
		}
	}
}
