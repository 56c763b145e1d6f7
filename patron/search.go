package patron

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/policy"
)

// Query selects patrons. Empty criteria select every patron the subject
// may see (a listing).
type Query struct {
	// Name: each word must start the first or the last name
	// (case-insensitive).
	Name string
	// BirthDate: YYYY-MM-DD.
	BirthDate string
	// CardNumber: any card the patron has held.
	CardNumber string
	// NationalIDKind and NationalIDIndex: exact match through the blind
	// index (pii.Keyring.BlindIndex).
	NationalIDKind  string
	NationalIDIndex []byte

	Limit, Offset int
}

// maxNameWords bounds the LIKE terms of one search.
const maxNameWords = 5

// Search returns the records (cards included, identifiers not) of the
// patrons matching query that subject may read, ordered by last name, first
// name and id. The visibility filter runs in SQL, so patrons the subject may
// not read are never fetched.
//
// A name search is answered in result order from the index
// patrons_name_order_idx (migration 00007) and stops once the page is full
// (docs/performance.md): the rows a name search matches are split into
// disjoint branches, one per word whose prefix the last name has (the
// first such word), and one for rows whose last name has none of the
// prefixes (then every word must start the first name); each branch is an
// ordered index range scan with the visibility filter and a LIMIT, merged
// in order. The matched set and the order are exactly those of the plain
// condition "each word starts the first or the last name".
func Search(ctx context.Context, q Querier, s policy.Subject, query Query) ([]Record, error) {
	a := &sqlArgs{}
	// An anonymised record belongs to nobody: no search or list shows it.
	where := []string{visibility(s, a), "p.anonymised_at IS NULL"}
	var words []string
	for i, w := range strings.Fields(strings.ToLower(query.Name)) {
		if i == maxNameWords {
			break
		}
		words = append(words, a.add(escapeLike(w)+"%"))
	}
	if query.BirthDate != "" {
		where = append(where, "p.birth_date = "+a.add(query.BirthDate)+"::date")
	}
	if query.CardNumber != "" {
		where = append(where, "EXISTS (SELECT 1 FROM cards cd WHERE cd.patron_id = p.id AND cd.card_number = "+
			a.add(NormalizeCard(query.CardNumber))+")")
	}
	if query.NationalIDKind != "" {
		where = append(where, "EXISTS (SELECT 1 FROM patron_identifiers pi WHERE pi.patron_id = p.id AND pi.kind = "+
			a.add(query.NationalIDKind)+" AND pi.blind_index = "+a.add(query.NationalIDIndex)+")")
	}
	limit := query.Limit
	if limit <= 0 {
		limit = 50
	}
	offset := max(query.Offset, 0)
	const order = ` ORDER BY lower(p.last_name) NULLS LAST, lower(p.first_name) NULLS LAST, p.id`
	var sql string
	if len(words) == 0 {
		sql = `SELECT ` + recordCols + ` FROM patrons p WHERE ` + strings.Join(where, " AND ") + order +
			` LIMIT ` + a.add(limit) + ` OFFSET ` + a.add(offset)
	} else {
		sql = nameSearchSQL(words, where, a.add(limit+offset), a.add(limit), a.add(offset))
	}
	rows, err := q.Query(ctx, sql, a.vals...)
	if err != nil {
		return nil, err
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Record, error) { return scanRecord(r) })
	if err != nil {
		return nil, err
	}
	return recs, attachCards(ctx, q, recs)
}

// nameSearchSQL is the index-driven form of a name search (see Search):
// words are the placeholders of the LIKE patterns, where the other
// conditions (visibility included), branchLimit the placeholder of
// limit+offset, which bounds every branch.
func nameSearchSQL(words, where []string, branchLimit, limit, offset string) string {
	const (
		first   = "lower(p.first_name) LIKE "
		last    = "lower(p.last_name) LIKE "
		branchO = ` ORDER BY lk NULLS LAST, fk NULLS LAST, id LIMIT `
	)
	var b strings.Builder
	branch := func(conds []string) {
		if b.Len() > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("(SELECT p.id, lower(p.last_name) AS lk, lower(p.first_name) AS fk FROM patrons p WHERE ")
		b.WriteString(strings.Join(append(conds, where...), " AND "))
		b.WriteString(branchO + branchLimit + ")")
	}
	// Branch i: the last name starts with word i and with none of the
	// words before it (so those start the first name); every later word
	// starts the first or the last name.
	for i, w := range words {
		conds := []string{last + w}
		for j, o := range words {
			switch {
			case j < i:
				conds = append(conds, "NOT "+last+o, first+o)
			case j > i:
				conds = append(conds, "("+first+o+" OR "+last+o+")")
			}
		}
		branch(conds)
	}
	// The rest: no word starts the last name (or there is none), so every
	// word starts the first name.
	var conds []string
	for _, w := range words {
		conds = append(conds, first+w, "NOT coalesce("+last+w+", false)")
	}
	branch(conds)
	return `SELECT ` + recordCols + ` FROM (SELECT id, lk, fk FROM (` + b.String() + `) u` + branchO + limit +
		` OFFSET ` + offset + `) page JOIN patrons p ON p.id = page.id ORDER BY page.lk NULLS LAST, page.fk NULLS LAST, page.id`
}

// escapeLike makes s match literally in a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
