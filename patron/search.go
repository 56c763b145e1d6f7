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
	// Name: each word must start the first or the last name, ignoring
	// case and diacritics (NameKey).
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

// The keys of a patron's names (NameKey) as the indexes
// patrons_name_order_idx and patrons_first_name_order_idx hold them
// (migration 00010), spelt exactly so: of collation C, whatever the
// database's, so that LIKE 'prefix%' is an index range and the order is
// byte order, with the collation on the name so that the planner finds
// the indexes' statistics.
const (
	lastKey   = `patron_name_key(p.last_name COLLATE "C")`
	firstKey  = `patron_name_key(p.first_name COLLATE "C")`
	firstPair = `left(patron_name_key(p.first_name COLLATE "C"), 2)`
)

// Search returns the records (cards included, identifiers not) of the
// patrons matching query that subject may read, ordered by the keys of the
// last and the first name (NameKey, in byte order, a missing name last)
// and id. The visibility filter runs in SQL, so patrons the subject may not
// read are never fetched.
//
// A name search is answered in result order from the indexes
// patrons_name_order_idx and patrons_first_name_order_idx (migrations
// 00007, 00008, on the keys since 00010) and stops once the page is full
// (docs/performance.md): the rows a name search matches are split into disjoint branches, one per
// word whose prefix the last name has (the first such word), and one for
// rows whose last name has none of the prefixes (then every word must start
// the first name); each branch is an ordered index range scan with the
// visibility filter and a LIMIT, merged in order. The matched set and the
// order are exactly those of the plain condition "the key of each word
// starts the key of the first or the last name".
//
// A name search or listing by staff of a library that sees few patrons
// evaluates the visibility filter from a hash table of the library's
// consents and active loans instead of probing them per patron
// (SearchPlan, chosen per library by choosePlan); the result is the same.
func (sr *Searcher) Search(ctx context.Context, q Querier, s policy.Subject, query Query) ([]Record, error) {
	return sr.search(ctx, q, s, query, sr.plan)
}

// search is Search with the plan of a name search or listing given
// (PlanAuto: chosen per library).
func (sr *Searcher) search(ctx context.Context, q Querier, s policy.Subject, query Query, plan SearchPlan) ([]Record, error) {
	limit := query.Limit
	if limit <= 0 {
		limit = 50
	}
	offset := max(query.Offset, 0)
	var rawWords []string
	for i, w := range strings.Fields(NameKey(query.Name)) {
		if i == maxNameWords {
			break
		}
		rawWords = append(rawWords, w)
	}
	// Birth date, card and identifier searches consider a few dozen rows
	// through their own indexes: probing is cheapest for them.
	if query.BirthDate != "" || query.CardNumber != "" || query.NationalIDKind != "" {
		plan = PlanProbe
	} else if plan == PlanAuto {
		var err error
		if plan, err = sr.choosePlan(ctx, q, s, limit+offset); err != nil {
			return nil, err
		}
	}
	a := &sqlArgs{}
	// An anonymised record belongs to nobody: no search or list shows it.
	vis, with := visibilityIn(s, a, plan)
	where := []string{vis, "p.anonymised_at IS NULL"}
	words := make([]string, len(rawWords))
	for i, w := range rawWords {
		words[i] = a.add(escapeLike(w) + "%")
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
	const order = ` ORDER BY ` + lastKey + ` NULLS LAST, ` + firstKey + ` NULLS LAST, p.id`
	var sql string
	if len(words) == 0 {
		sql = `SELECT ` + recordCols + ` FROM patrons p WHERE ` + strings.Join(where, " AND ") + order +
			` LIMIT ` + a.add(limit) + ` OFFSET ` + a.add(offset)
	} else {
		sql = nameSearchSQL(rawWords, words, where, a, a.add(limit+offset), a.add(limit), a.add(offset))
		if sql == "" {
			return nil, nil
		}
	}
	if with != "" {
		sql = "WITH " + with + " " + sql
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
// raw are the keys of the words (NameKey), words the placeholders of their
// LIKE patterns, where the other conditions (visibility included), branchLimit
// the placeholder of limit+offset, which bounds every branch. It returns ""
// when no name can match (words that no first and last name can both
// start).
func nameSearchSQL(raw, words, where []string, a *sqlArgs, branchLimit, limit, offset string) string {
	const (
		first   = firstKey + " LIKE "
		last    = lastKey + " LIKE "
		branchO = ` ORDER BY lk NULLS LAST, fk NULLS LAST, id LIMIT `
	)
	// A name that starts with both word i and word j starts with the
	// longer of the two, so if neither is a prefix of the other, no name
	// starts with both.
	exclusive := func(i, j int) bool {
		return !strings.HasPrefix(raw[i], raw[j]) && !strings.HasPrefix(raw[j], raw[i])
	}
	// The first two letters of the first name, when it must start with
	// word i: patrons_first_name_order_idx (migration 00008) is led by
	// them and holds each pair's patrons in result order.
	pairs := map[int]string{}
	pair := func(i int) string {
		if r := []rune(raw[i]); len(r) >= 2 {
			if pairs[i] == "" {
				pairs[i] = a.add(string(r[:2]))
			}
			return firstPair + " = " + pairs[i]
		}
		return ""
	}
	var b strings.Builder
	// branch adds the branch of the rows matching conds, in which the
	// words firstWords must start the first name; none if two of those
	// cannot both.
	branch := func(conds []string, firstWords []int) {
		for x, i := range firstWords {
			for _, j := range firstWords[:x] {
				if exclusive(i, j) {
					return
				}
			}
		}
		for _, i := range firstWords {
			if c := pair(i); c != "" {
				conds = append(conds, c)
			}
		}
		if b.Len() > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("(SELECT p.id, " + lastKey + " AS lk, " + firstKey + " AS fk FROM patrons p WHERE ")
		b.WriteString(strings.Join(append(conds, where...), " AND "))
		b.WriteString(branchO + branchLimit + ")")
	}
	// Branch i: the last name starts with word i and with none of the
	// words before it (so those start the first name); every later word
	// starts the first or the last name — the first name if the last name
	// cannot start with both words. The first-name conditions are index
	// conditions of the scan (checked inside the index), and a word that
	// must start the first name lets the planner read the branch from
	// patrons_first_name_order_idx, in the same order.
	for i, w := range words {
		conds := []string{last + w}
		var firstWords []int
		possible := true
		for j, o := range words {
			switch {
			case j == i:
			case j < i && strings.HasPrefix(raw[i], raw[j]):
				// The last name would start with word j too.
				possible = false
			case exclusive(i, j):
				conds = append(conds, first+o)
				firstWords = append(firstWords, j)
			case j < i:
				conds = append(conds, "NOT "+last+o, first+o)
				firstWords = append(firstWords, j)
			default:
				conds = append(conds, "("+first+o+" OR "+last+o+")")
			}
		}
		if possible {
			branch(conds, firstWords)
		}
	}
	// The rest: no word starts the last name (or there is none), so every
	// word starts the first name. Without a last-name range this branch
	// would walk the whole name order (or sort every patron with the first
	// name); led by the first name's first two letters it is an ordered
	// range scan too.
	var conds []string
	var firstWords []int
	for i, w := range words {
		conds = append(conds, first+w, "NOT coalesce("+last+w+", false)")
		firstWords = append(firstWords, i)
	}
	branch(conds, firstWords)
	if b.Len() == 0 {
		return ""
	}
	return `SELECT ` + recordCols + ` FROM (SELECT id, lk, fk FROM (` + b.String() + `) u` + branchO + limit +
		` OFFSET ` + offset + `) page JOIN patrons p ON p.id = page.id ORDER BY page.lk NULLS LAST, page.fk NULLS LAST, page.id`
}

// escapeLike makes s match literally in a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
