package stats

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// MinThreshold is the smallest cell that is ever returned as a number.
const MinThreshold = 5

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Cell is one count, or suppressed (Count is then 0).
type Cell struct {
	Count      int64
	Suppressed bool
}

// Threshold returns the threshold to apply for a requested one (0: the
// default); never below MinThreshold.
func Threshold(requested int) int {
	return max(requested, MinThreshold)
}

func cell(n int64, threshold int) Cell {
	if n < int64(Threshold(threshold)) {
		return Cell{Suppressed: true}
	}
	return Cell{Count: n}
}

// Scope limits statistics to some libraries.
type Scope struct {
	// LibraryID limits to one library; "" means every library.
	LibraryID string
}

// LoanRow counts the loans of one lending library checked out in one month.
type LoanRow struct {
	LibraryID string
	Month     string // YYYY-MM (UTC)
	Loans     Cell
}

// Months is a range of whole calendar months (UTC) that have ended: the
// only periods loan statistics are counted over. Only MonthWindow makes
// one.
//
// Cells are always whole, ended months, whatever range is asked for, so
// that no two requests differ by a few days or hours: otherwise asking for
// [1 Jan, 1 Feb) and then [2 Jan, 1 Feb) would give the loans of 1 January
// by subtraction, a number small enough to single a patron out although
// neither answer has a small cell. A month that has not ended is left out
// for the same reason: asked for twice an hour apart, it would give the
// loans of that hour.
type Months struct{ start, end time.Time }

// Start is the first instant of the first month.
func (m Months) Start() time.Time { return m.start }

// End is the first instant after the last month.
func (m Months) End() time.Time { return m.end }

// MonthWindow returns the months that statistics asked for [from, to)
// report: every month with an instant in [from, to), up to the last month
// that has ended by now. ok is false when that leaves no month.
func MonthWindow(from, to, now time.Time) (m Months, ok bool) {
	m.start = monthStart(from)
	m.end = monthStart(to)
	if m.end.Before(to) {
		m.end = m.end.AddDate(0, 1, 0)
	}
	if last := monthStart(now); m.end.After(last) {
		m.end = last
	}
	return m, m.start.Before(m.end)
}

// LastEndedMonth is the last month (YYYY-MM, UTC) that has ended by now.
func LastEndedMonth(now time.Time) string {
	return monthStart(now).AddDate(0, -1, 0).Format("2006-01")
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Loans counts loans per lending library per calendar month (UTC) for
// loans checked out in the months m.
func Loans(ctx context.Context, q Querier, s Scope, m Months, threshold int) ([]LoanRow, error) {
	if !m.start.Before(m.end) {
		return nil, nil
	}
	where, args := []string{"checked_out_at >= $1", "checked_out_at < $2"}, []any{m.start, m.end}
	if s.LibraryID != "" {
		args = append(args, s.LibraryID)
		where = append(where, fmt.Sprintf("lending_library_id = $%d", len(args)))
	}
	rows, err := q.Query(ctx, `
		SELECT lending_library_id::text, to_char(date_trunc('month', checked_out_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, count(*)
		FROM loans WHERE `+strings.Join(where, " AND ")+`
		GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LoanRow, error) {
		var (
			row LoanRow
			n   int64
		)
		err := r.Scan(&row.LibraryID, &row.Month, &n)
		row.Loans = cell(n, threshold)
		return row, err
	})
}

// PatronRow counts the active patrons of one home library and category.
type PatronRow struct {
	LibraryID string
	Category  string
	Patrons   Cell
}

// Patrons counts active patrons (neither archived nor anonymised) per home
// library and category.
func Patrons(ctx context.Context, q Querier, s Scope, threshold int) ([]PatronRow, error) {
	where, args := "archived_at IS NULL AND anonymised_at IS NULL", []any{}
	if s.LibraryID != "" {
		args = append(args, s.LibraryID)
		where += " AND home_library_id = $1"
	}
	rows, err := q.Query(ctx, `
		SELECT home_library_id::text, category, count(*) FROM patrons WHERE `+where+`
		GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PatronRow, error) {
		var (
			row PatronRow
			n   int64
		)
		err := r.Scan(&row.LibraryID, &row.Category, &n)
		row.Patrons = cell(n, threshold)
		return row, err
	})
}

// ConsentRow counts the patrons of one home library who currently consent
// to sharing with another library.
type ConsentRow struct {
	HomeLibraryID      string
	ConsentedLibraryID string
	Patrons            Cell
}

// Consents counts current sharing consents per home library and consented
// library. With a library in s, rows where it is either side.
func Consents(ctx context.Context, q Querier, s Scope, threshold int) ([]ConsentRow, error) {
	where, args := "true", []any{}
	if s.LibraryID != "" {
		args = append(args, s.LibraryID)
		where = "(p.home_library_id = $1 OR c.library_id = $1)"
	}
	rows, err := q.Query(ctx, `
		SELECT p.home_library_id::text, c.library_id::text, count(*)
		FROM consents c JOIN patrons p ON p.id = c.patron_id
		WHERE `+where+` GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConsentRow, error) {
		var (
			row ConsentRow
			n   int64
		)
		err := r.Scan(&row.HomeLibraryID, &row.ConsentedLibraryID, &n)
		row.Patrons = cell(n, threshold)
		return row, err
	})
}
