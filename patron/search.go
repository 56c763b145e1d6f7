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
func Search(ctx context.Context, q Querier, s policy.Subject, query Query) ([]Record, error) {
	a := &sqlArgs{}
	// An anonymised record belongs to nobody: no search or list shows it.
	where := []string{visibility(s, a), "p.anonymised_at IS NULL"}
	for i, w := range strings.Fields(strings.ToLower(query.Name)) {
		if i == maxNameWords {
			break
		}
		p := a.add(escapeLike(w) + "%")
		where = append(where, "(lower(p.first_name) LIKE "+p+" OR lower(p.last_name) LIKE "+p+")")
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
	sql := `SELECT ` + recordCols + ` FROM patrons p WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY lower(p.last_name) NULLS LAST, lower(p.first_name) NULLS LAST, p.id LIMIT ` + a.add(limit) +
		` OFFSET ` + a.add(max(query.Offset, 0))
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

// escapeLike makes s match literally in a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
