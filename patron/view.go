package patron

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
)

// View is everything a read of one patron needs, from one statement (one
// snapshot, one round trip): what the policy decides on, the record with
// its cards, and the sealed identifiers, which stay sealed until Open is
// asked for the groups the decision returns.
type View struct {
	Resource policy.Resource
	Record   Record
	sealed   []sealedIdentifier
}

type sealedIdentifier struct {
	kind, keyID string
	ciphertext  []byte
}

// viewSQL is LoadResources, Load (record and cards) and the identifiers'
// ciphertexts of one patron in one statement.
const viewSQL = `SELECT ` + recordCols + `,
	  ARRAY(SELECT c.library_id::text FROM consents c WHERE c.patron_id = p.id ORDER BY c.library_id),
	  ARRAY(SELECT DISTINCT l.lending_library_id::text FROM loans l
	        WHERE l.patron_id = p.id AND l.returned_at IS NULL ORDER BY 1),
	  cd.numbers, cd.active, cd.issued, cd.revoked, pi.kinds, pi.keys, pi.cts
	FROM patrons p
	CROSS JOIN LATERAL (SELECT
	    coalesce(array_agg(card_number ORDER BY active DESC, issued_at DESC, card_number), '{}') AS numbers,
	    coalesce(array_agg(active ORDER BY active DESC, issued_at DESC, card_number), '{}') AS active,
	    coalesce(array_agg(issued_at ORDER BY active DESC, issued_at DESC, card_number), '{}') AS issued,
	    coalesce(array_agg(revoked_at ORDER BY active DESC, issued_at DESC, card_number), '{}') AS revoked
	  FROM cards WHERE patron_id = p.id) cd
	CROSS JOIN LATERAL (SELECT coalesce(array_agg(kind), '{}') AS kinds, coalesce(array_agg(key_id), '{}') AS keys,
	    coalesce(array_agg(ciphertext), '{}') AS cts
	  FROM patron_identifiers WHERE patron_id = $1) pi
	WHERE p.id = $1`

// LoadView reads patron id in one statement; a NotFound status if there is
// no such patron. It sees exactly what LoadResource, Load and
// LoadIdentifiers would see together in one snapshot.
func LoadView(ctx context.Context, q Querier, id string) (View, error) {
	var v View
	r := &v.Record
	var gName *string
	var g Guardian
	var numbers []string
	var active []bool
	var issued []time.Time
	var revoked []*time.Time
	var kinds, keys []string
	var cts [][]byte
	rows, err := q.Query(ctx, viewSQL, id)
	if err != nil {
		return View{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return View{}, err
		}
		return View{}, errNotFound
	}
	vs := viewScanners.Get().(*viewScanner)
	err = vs.scan(rows, &r.ID, &r.HomeLibraryID, &r.Version,
		&r.FirstName, &r.LastName, &r.BirthDate,
		&r.PermanentAddress, &r.ContactAddress,
		&r.Email, &r.Phone, &r.AcademicTitles, &r.OptionalDataConsent,
		&r.Category, &r.MotherTongue, &r.RegisteredAt, &r.LastActivityAt, &r.Archived,
		&gName, &g.Address, &g.Phone, &g.Email,
		&r.SpecialCategories,
		&v.Resource.ConsentLibraryIDs, &v.Resource.ActiveLoanLibraryIDs,
		&numbers, &active, &issued, &revoked, &kinds, &keys, &cts)
	viewScanners.Put(vs)
	if err != nil {
		return View{}, err
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return View{}, err
	}
	if gName != nil {
		g.Name = *gName
		r.Guardian = &g
	}
	for i := range numbers {
		r.Cards = append(r.Cards, Card{Number: numbers[i], Active: active[i], IssuedAt: issued[i], RevokedAt: revoked[i]})
	}
	for i := range kinds {
		v.sealed = append(v.sealed, sealedIdentifier{kind: kinds[i], keyID: keys[i], ciphertext: cts[i]})
	}
	v.Resource.PatronID, v.Resource.HomeLibraryID = r.ID, r.HomeLibraryID
	v.Resource.OptionalDataConsent, v.Resource.Archived = r.OptionalDataConsent, r.Archived
	return v, nil
}

// Identifiers decrypts the ID document number (if document) and the
// national identifiers (if national), like LoadIdentifiers; callers ask
// only for the groups the access decision returns.
func (v *View) Identifiers(kr *pii.Keyring, document, national bool) (Identifiers, error) {
	return openSealed(kr, v.Record.ID, v.sealed, document, national)
}

// viewScanners keep the scan plans of viewSQL's columns between reads.
// pgx plans how to decode every column of every query anew, and for the
// view's arrays planning allocates more than decoding does; the columns
// and destinations of viewSQL never change, so one plan per column serves
// every read. A pool rather than one shared set: a plan is used by one
// goroutine at a time, as pgx itself uses it for the rows of one result.
var viewScanners = sync.Pool{New: func() any { return new(viewScanner) }}

type viewScanner struct {
	// columns are the type and format of each column the plans were made
	// for; a result that differs (another server version, say) is planned
	// anew.
	columns []viewColumn
	plans   []pgtype.ScanPlan
}

type viewColumn struct {
	oid    uint32
	format int16
}

// scan decodes the current row of rows into dest, like rows.Scan.
func (vs *viewScanner) scan(rows pgx.Rows, dest ...any) error {
	fds := rows.FieldDescriptions()
	if len(fds) != len(dest) {
		return fmt.Errorf("view: %d columns, %d destinations", len(fds), len(dest))
	}
	if !vs.planned(fds) {
		m := rows.Conn().TypeMap()
		vs.columns, vs.plans = vs.columns[:0], vs.plans[:0]
		for i, fd := range fds {
			vs.columns = append(vs.columns, viewColumn{fd.DataTypeOID, fd.Format})
			vs.plans = append(vs.plans, m.PlanScan(fd.DataTypeOID, fd.Format, dest[i]))
		}
	}
	raw := rows.RawValues()
	for i, d := range dest {
		if err := vs.plans[i].Scan(raw[i], d); err != nil {
			// A plan that fails may have been made for other data: plan
			// again next time.
			vs.columns = vs.columns[:0]
			return fmt.Errorf("view: column %s: %w", fds[i].Name, err)
		}
	}
	return nil
}

func (vs *viewScanner) planned(fds []pgconn.FieldDescription) bool {
	if len(vs.columns) != len(fds) {
		return false
	}
	for i, fd := range fds {
		if vs.columns[i] != (viewColumn{fd.DataTypeOID, fd.Format}) {
			return false
		}
	}
	return true
}
