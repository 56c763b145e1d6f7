package auditquery

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/patronfed/patronfed/policy"
)

// BreachFilter selects the reads an incident may have exposed. Only allowed
// decisions count: a denial returned no patron data.
type BreachFilter struct {
	ActorID   string
	LibraryID string // the acting account's library
	TokenID   string
	From, To  time.Time
}

func (b BreachFilter) filter() Filter {
	yes := true
	return Filter{ActorID: b.ActorID, ActorLibraryID: b.LibraryID, TokenID: b.TokenID, From: b.From, To: b.To, Allowed: &yes}
}

// FieldCount is how often one field group was read, and for how many
// patrons.
type FieldCount struct {
	Field   string
	Reads   int64
	Patrons int64
}

// Summary totals a breach scope.
type Summary struct {
	Reads, Patrons int64
	Fields         []FieldCount // only groups read at least once, canonical order
	First, Last    time.Time
}

// Patron is one patron in a breach scope.
type Patron struct {
	PatronID      string
	HomeLibraryID string // from the audited input, at the time of the read
	Reads         int64
	Fields        []FieldCount // Patrons is 1 for each group read
	First, Last   time.Time
}

// groups are the field groups counted; every audited field passed the
// floor, which drops unknown groups, so these are all there can be.
var groups = policy.FieldGroups()

// perGroup is the per-patron count of reads returning each group, one
// column per group. Group names are code constants, checked below, so they
// are inlined as literals.
var perGroup = func() string {
	ok := regexp.MustCompile(`^[a-z_]+$`)
	cols := make([]string, len(groups))
	for i, g := range groups {
		if !ok.MatchString(g) {
			panic("auditquery: unexpected field group name " + g)
		}
		cols[i] = fmt.Sprintf("count(*) FILTER (WHERE '%s' = ANY(fields)) AS f%d", g, i)
	}
	return strings.Join(cols, ", ")
}()

// patronsSQL aggregates the matching reads per patron; where already holds
// the caller's conditions.
func patronsSQL(where string) string {
	return `SELECT patron_id, count(*) AS reads, min(at) AS first, max(at) AS last, ` + perGroup + `
		FROM audit_log WHERE patron_id IS NOT NULL AND ` + where + ` GROUP BY patron_id`
}

// summarySQL totals the per-patron aggregate in one pass over the rows in
// scope: patrons, reads, first and last read, and per field group the reads
// and the patrons.
func summarySQL(where string) string {
	sums := make([]string, len(groups))
	for i := range groups {
		sums[i] = fmt.Sprintf("coalesce(sum(f%d), 0), count(*) FILTER (WHERE f%d > 0)", i, i)
	}
	return `WITH p AS (` + patronsSQL(where) + `)
		SELECT count(*), coalesce(sum(reads), 0), min(first), max(last), ` + strings.Join(sums, ", ") + ` FROM p`
}

// Summarize totals the scope of f.
func Summarize(ctx context.Context, q Querier, f BreachFilter) (Summary, error) {
	where, args := f.filter().where(nil)
	var (
		s           Summary
		first, last *time.Time
		counts      = make([]int64, 2*len(groups))
	)
	dst := []any{&s.Patrons, &s.Reads, &first, &last}
	for i := range counts {
		dst = append(dst, &counts[i])
	}
	if err := q.QueryRow(ctx, summarySQL(where), args...).Scan(dst...); err != nil {
		return Summary{}, err
	}
	if first != nil {
		s.First, s.Last = *first, *last
	}
	for i, g := range groups {
		if counts[2*i] > 0 {
			s.Fields = append(s.Fields, FieldCount{Field: g, Reads: counts[2*i], Patrons: counts[2*i+1]})
		}
	}
	return s, nil
}

// Patrons returns up to limit patrons of the scope with ids after after
// ("" from the start), in id order.
func Patrons(ctx context.Context, q Querier, f BreachFilter, after string, limit int) ([]Patron, error) {
	where, args := f.filter().where(nil)
	if after != "" {
		args = append(args, after)
		where += fmt.Sprintf(" AND patron_id > $%d", len(args))
	}
	pageArgs := append(slices.Clone(args), limit)
	rows, err := q.Query(ctx, patronsSQL(where)+fmt.Sprintf(" ORDER BY patron_id LIMIT $%d", len(pageArgs)), pageArgs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out    []Patron
		ids    []string
		counts = make([]int64, len(groups))
	)
	for rows.Next() {
		var p Patron
		dst := []any{&p.PatronID, &p.Reads, &p.First, &p.Last}
		for i := range counts {
			dst = append(dst, &counts[i])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		for i, g := range groups {
			if counts[i] > 0 {
				p.Fields = append(p.Fields, FieldCount{Field: g, Reads: counts[i], Patrons: 1})
			}
		}
		out = append(out, p)
		ids = append(ids, p.PatronID)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	// The home library comes from the audited input of each patron's
	// latest read in scope. It is looked up for this page only: decoding
	// the input of every row in scope would dominate a large scope.
	homeArgs := append(args, ids)
	rows, err = q.Query(ctx, fmt.Sprintf(`SELECT DISTINCT ON (patron_id) patron_id::text, coalesce(input->'resource'->>'home_library_id', '')
		FROM audit_log WHERE %s AND patron_id = ANY($%d::uuid[]) ORDER BY patron_id, seq DESC`, where, len(homeArgs)), homeArgs...)
	if err != nil {
		return nil, err
	}
	home := map[string]string{}
	for rows.Next() {
		var id, h string
		if err := rows.Scan(&id, &h); err != nil {
			return nil, err
		}
		home[id] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].HomeLibraryID = home[out[i].PatronID]
	}
	return out, nil
}
