package patron

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
)

// Guardian is the legal guardian of a minor.
type Guardian struct {
	Name, Address, Phone, Email string
}

// NationalID is one national identifier; Kind is a pii.Kind* constant
// other than pii.KindIDDocument. The value never prints.
type NationalID struct {
	Kind  string
	Value pii.Redacted
}

// Card is one of the patron's library cards.
type Card struct {
	Number    string
	Active    bool
	IssuedAt  time.Time
	RevokedAt *time.Time
}

// Record is a patron record as stored, without the encrypted identifiers
// (see LoadIdentifiers).
type Record struct {
	ID            string
	HomeLibraryID string
	Version       int64

	FirstName, LastName string
	BirthDate           string // YYYY-MM-DD
	PermanentAddress    string
	ContactAddress      string

	Email, Phone, AcademicTitles string
	OptionalDataConsent          bool

	Category       string
	MotherTongue   string
	RegisteredAt   time.Time
	LastActivityAt *time.Time
	// Archived is true for archived and for anonymised accounts: neither is
	// usable for service.
	Archived bool

	Guardian          *Guardian
	SpecialCategories []string
	Cards             []Card
}

// ActiveCard returns the number of the active card, or "".
func (r *Record) ActiveCard() string {
	for _, c := range r.Cards {
		if c.Active {
			return c.Number
		}
	}
	return ""
}

// Identifiers are a patron's decrypted identifiers.
type Identifiers struct {
	IDDocument pii.Redacted
	National   []NationalID
}

// archivedSQL is when a patron is not usable for service.
const archivedSQL = `(p.archived_at IS NOT NULL OR p.anonymised_at IS NOT NULL)`

const recordCols = `p.id::text, p.home_library_id::text, p.version,
	coalesce(p.first_name, ''), coalesce(p.last_name, ''), coalesce(to_char(p.birth_date, 'YYYY-MM-DD'), ''),
	coalesce(p.permanent_address, ''), coalesce(p.contact_address, ''),
	coalesce(p.email, ''), coalesce(p.phone, ''), coalesce(p.academic_titles, ''), p.optional_data_consent,
	p.category, coalesce(p.mother_tongue, ''), p.registered_at, p.last_activity_at, ` + archivedSQL + `,
	p.guardian_name, coalesce(p.guardian_address, ''), coalesce(p.guardian_phone, ''), coalesce(p.guardian_email, ''),
	p.special_categories`

func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	var gName *string
	var g Guardian
	err := row.Scan(&r.ID, &r.HomeLibraryID, &r.Version,
		&r.FirstName, &r.LastName, &r.BirthDate,
		&r.PermanentAddress, &r.ContactAddress,
		&r.Email, &r.Phone, &r.AcademicTitles, &r.OptionalDataConsent,
		&r.Category, &r.MotherTongue, &r.RegisteredAt, &r.LastActivityAt, &r.Archived,
		&gName, &g.Address, &g.Phone, &g.Email,
		&r.SpecialCategories)
	if err != nil {
		return Record{}, err
	}
	if gName != nil {
		g.Name = *gName
		r.Guardian = &g
	}
	return r, nil
}

// Load returns the patron's record with its cards; a NotFound status if
// there is no such patron.
func Load(ctx context.Context, q Querier, id string) (Record, error) {
	recs, err := loadMany(ctx, q, []string{id})
	if err != nil {
		return Record{}, err
	}
	if len(recs) == 0 {
		return Record{}, errNotFound
	}
	return recs[0], nil
}

// loadMany returns the records of ids that exist, in the order of ids.
func loadMany(ctx context.Context, q Querier, ids []string) ([]Record, error) {
	rows, err := q.Query(ctx, `SELECT `+recordCols+` FROM patrons p WHERE p.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, err
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Record, error) { return scanRecord(r) })
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Record, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	out := make([]Record, 0, len(recs))
	for _, id := range ids {
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	return out, attachCards(ctx, q, out)
}

// attachCards loads the cards of recs in one query, newest first.
func attachCards(ctx context.Context, q Querier, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	ids := make([]string, len(recs))
	idx := make(map[string]int, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
		idx[r.ID] = i
	}
	rows, err := q.Query(ctx, `SELECT patron_id::text, card_number, active, issued_at, revoked_at
		FROM cards WHERE patron_id = ANY($1::uuid[]) ORDER BY active DESC, issued_at DESC, card_number`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pid string
		var c Card
		if err := rows.Scan(&pid, &c.Number, &c.Active, &c.IssuedAt, &c.RevokedAt); err != nil {
			return err
		}
		recs[idx[pid]].Cards = append(recs[idx[pid]].Cards, c)
	}
	return rows.Err()
}

// LoadResource returns what the policy needs about a patron: home library,
// current consents, libraries with an active loan (table loans, returned_at
// IS NULL, lending_library_id), optional-data consent, archived. A NotFound
// status if there is no such patron. Nothing here is cached: a withdrawn
// consent is gone on the very next call.
func LoadResource(ctx context.Context, q Querier, patronID string) (policy.Resource, error) {
	m, err := LoadResources(ctx, q, []string{patronID})
	if err != nil {
		return policy.Resource{}, err
	}
	r, ok := m[patronID]
	if !ok {
		return policy.Resource{}, errNotFound
	}
	return r, nil
}

// LoadResources is LoadResource for many patrons in one query; patrons that
// do not exist are absent from the map.
func LoadResources(ctx context.Context, q Querier, patronIDs []string) (map[string]policy.Resource, error) {
	out := make(map[string]policy.Resource, len(patronIDs))
	err := loadPatrons(ctx, q, patronIDs, true, false, func(r *policy.Resource, _ *Contact) { out[r.PatronID] = *r })
	return out, err
}

// resourceCols are what the policy needs of patron p (policy.Resource),
// contactCols what a desk handling a loan sees (Contact), both less the
// id: one list each, so that a page or a read can take either or both in
// one statement.
const (
	resourceCols = `p.home_library_id::text, p.optional_data_consent, ` + archivedSQL + `,
		  ARRAY(SELECT c.library_id::text FROM consents c WHERE c.patron_id = p.id ORDER BY c.library_id),
		  ARRAY(SELECT DISTINCT l.lending_library_id::text FROM loans l
		        WHERE l.patron_id = p.id AND l.returned_at IS NULL ORDER BY 1)`
	contactCols = `trim(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')),
		  coalesce((SELECT card_number FROM cards WHERE patron_id = p.id AND active), ''),
		  coalesce(p.contact_address, p.permanent_address, ''),
		  CASE WHEN p.optional_data_consent THEN coalesce(p.email, '') ELSE '' END,
		  CASE WHEN p.optional_data_consent THEN coalesce(p.phone, '') ELSE '' END`
)

// loadPatrons reads the patrons ids (their resource, their contact or
// both) and hands each row to fn.
func loadPatrons(ctx context.Context, q Querier, ids []string, resource, contact bool, fn func(*policy.Resource, *Contact)) error {
	var r policy.Resource
	var c Contact
	cols, dest := `p.id::text`, []any{&r.PatronID}
	if resource {
		cols += `, ` + resourceCols
		dest = append(dest, &r.HomeLibraryID, &r.OptionalDataConsent, &r.Archived, &r.ConsentLibraryIDs, &r.ActiveLoanLibraryIDs)
	}
	if contact {
		cols += `, ` + contactCols
		dest = append(dest, &c.Name, &c.CardNumber, &c.Address, &c.Email, &c.Phone)
	}
	rows, err := q.Query(ctx, `SELECT `+cols+` FROM patrons p WHERE p.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return err
	}
	_, err = pgx.ForEachRow(rows, dest, func() error {
		c.PatronID = r.PatronID
		fn(&r, &c)
		r = policy.Resource{} // fresh slices for the next row
		return nil
	})
	return err
}

// LoadResourceAndContact is LoadResourcesAndContacts for one patron; a
// NotFound status if there is no such patron.
func LoadResourceAndContact(ctx context.Context, q Querier, patronID string) (policy.Resource, Contact, error) {
	res, cs, err := LoadResourcesAndContacts(ctx, q, []string{patronID})
	if err != nil {
		return policy.Resource{}, Contact{}, err
	}
	r, ok := res[patronID]
	if !ok {
		return policy.Resource{}, Contact{}, errNotFound
	}
	return r, cs[patronID], nil
}

// LoadResourcesAndContacts is LoadResources and LoanContacts in one
// statement, for a read that decides on patrons and shows those it may:
// the contacts of patrons the decision denies are read but must not be
// shown. Patrons that do not exist are absent from both maps.
func LoadResourcesAndContacts(ctx context.Context, q Querier, patronIDs []string) (map[string]policy.Resource, map[string]Contact, error) {
	res, cs := make(map[string]policy.Resource, len(patronIDs)), make(map[string]Contact, len(patronIDs))
	err := loadPatrons(ctx, q, patronIDs, true, true, func(r *policy.Resource, c *Contact) {
		res[r.PatronID], cs[r.PatronID] = *r, *c
	})
	return res, cs, err
}

// IDByCard returns the patron id of an ACTIVE card; a NotFound status
// otherwise. Card numbers are compared in upper case, as issued.
func IDByCard(ctx context.Context, q Querier, cardNumber string) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT patron_id::text FROM cards WHERE card_number = $1 AND active`,
		NormalizeCard(cardNumber)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errNotFound
	}
	return id, err
}

// Contact is what a lending library needs to handle a loan.
type Contact struct {
	PatronID, Name, CardNumber, Address, Email, Phone string
}

// LoanContact returns the patron's display name, active card number,
// contact address (the permanent one if there is none), and e-mail and phone
// only while the patron consents to optional data. A NotFound status if
// there is no such patron.
func LoanContact(ctx context.Context, q Querier, patronID string) (Contact, error) {
	cs, err := LoanContacts(ctx, q, []string{patronID})
	if err != nil {
		return Contact{}, err
	}
	c, ok := cs[patronID]
	if !ok {
		return Contact{}, errNotFound
	}
	return c, nil
}

// LoanContacts is LoanContact for several patrons in one statement (a
// desk's list names a page of them), by id; an id with no patron is
// absent from the map.
func LoanContacts(ctx context.Context, q Querier, ids []string) (map[string]Contact, error) {
	out := make(map[string]Contact, len(ids))
	err := loadPatrons(ctx, q, ids, false, true, func(_ *policy.Resource, c *Contact) { out[c.PatronID] = *c })
	return out, err
}

// Touch records activity of the patron at at (a visit, a loan): retention
// counts from the last activity. It never moves the date backwards.
func Touch(ctx context.Context, q Querier, patronID string, at time.Time) error {
	_, err := q.Exec(ctx, `UPDATE patrons SET last_activity_at = greatest(coalesce(last_activity_at, $2), $2) WHERE id = $1`,
		patronID, at)
	return err
}
