package patron

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/pii"
)

// Registration is a new patron.
type Registration struct {
	Fields
	HomeLibraryID string
	CardNumber    string
	// PINHash is the argon2id hash of the OPAC PIN ("" for none).
	PINHash string
	// OptionalDataConsent: the patron consents to optional data at
	// registration (the caller records the consent event).
	OptionalDataConsent bool
	At                  time.Time
}

// Register inserts the patron, their first card and their sealed
// identifiers, and returns the new id. Run it in a transaction; validate
// with Check first.
func Register(ctx context.Context, q Querier, kr *pii.Keyring, r *Registration) (string, error) {
	category := r.Category
	if category == "" {
		category = DefaultCategory
	}
	var consentAt *time.Time
	if r.OptionalDataConsent {
		consentAt = &r.At
	}
	g := r.Guardian
	if g == nil {
		g = &Guardian{}
	}
	// A contact address is required at registration (privacy-rules §1);
	// unless another is given it is the permanent address.
	contact := r.ContactAddress
	if contact == "" {
		contact = r.PermanentAddress
	}
	var id string
	err := q.QueryRow(ctx, `
		INSERT INTO patrons (home_library_id, pin_hash, first_name, last_name, birth_date, permanent_address, contact_address,
		  email, phone, academic_titles, optional_data_consent, optional_data_consent_at, category, mother_tongue,
		  guardian_name, guardian_address, guardian_phone, guardian_email, special_categories,
		  registered_at, last_activity_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5::date, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20, $20, $20)
		RETURNING id::text`,
		r.HomeLibraryID, nullIfEmpty(r.PINHash), r.FirstName, r.LastName, r.BirthDate, r.PermanentAddress, nullIfEmpty(contact),
		nullIfEmpty(r.Email), nullIfEmpty(r.Phone), nullIfEmpty(r.AcademicTitles), r.OptionalDataConsent, consentAt, category,
		nullIfEmpty(r.MotherTongue), nullIfEmpty(g.Name), nullIfEmpty(g.Address), nullIfEmpty(g.Phone), nullIfEmpty(g.Email),
		nonNil(r.SpecialCategories), r.At).Scan(&id)
	if err != nil {
		return "", err
	}
	if _, err := q.Exec(ctx, `INSERT INTO cards (card_number, patron_id, active, issued_at) VALUES ($1, $2, true, $3)`,
		NormalizeCard(r.CardNumber), id, r.At); err != nil {
		return "", err
	}
	if !r.IDDocument.IsZero() {
		if err := putIdentifier(ctx, q, kr, id, pii.KindIDDocument, r.IDDocument); err != nil {
			return "", err
		}
	}
	if err := putNational(ctx, q, kr, id, r.NationalIDs); err != nil {
		return "", err
	}
	return id, nil
}

// ErrVersion is the status of an update based on a stale version.
var ErrVersion = status.Error(codes.FailedPrecondition,
	"the patron record was changed since you read it: read it again and reapply your change")

// Lock locks the patron row for the rest of the transaction and returns
// its version (compare it with the caller's only after the access decision,
// so that a denied caller learns nothing); a NotFound status if there is no
// such patron.
func Lock(ctx context.Context, q Querier, id string) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT version FROM patrons WHERE id = $1 FOR UPDATE`, id).Scan(&v)
	if isNoRows(err) {
		return 0, errNotFound
	}
	return v, err
}

// Update writes the fields named in mask (names as in fieldGroup), bumps
// the version and returns the new one. Run it in the transaction that
// called Lock; validate the resulting state with Check first.
func Update(ctx context.Context, q Querier, kr *pii.Keyring, id string, f *Fields, mask []string, at time.Time) (int64, error) {
	set := []string{}
	args := []any{id, at}
	col := func(c string, v any) {
		args = append(args, v)
		set = append(set, c+" = $"+itoa(len(args)))
	}
	for _, m := range mask {
		switch m {
		case "first_name":
			col("first_name", f.FirstName)
		case "last_name":
			col("last_name", f.LastName)
		case "birth_date":
			args = append(args, f.BirthDate)
			set = append(set, "birth_date = $"+itoa(len(args))+"::date")
		case "permanent_address":
			col("permanent_address", f.PermanentAddress)
		case "contact_address":
			col("contact_address", nullIfEmpty(f.ContactAddress))
		case "email":
			col("email", nullIfEmpty(f.Email))
		case "phone":
			col("phone", nullIfEmpty(f.Phone))
		case "academic_titles":
			col("academic_titles", nullIfEmpty(f.AcademicTitles))
		case "category":
			c := f.Category
			if c == "" {
				c = DefaultCategory
			}
			col("category", c)
		case "mother_tongue":
			col("mother_tongue", nullIfEmpty(f.MotherTongue))
		case "guardian":
			g := f.Guardian
			if g == nil {
				g = &Guardian{}
			}
			col("guardian_name", nullIfEmpty(g.Name))
			col("guardian_address", nullIfEmpty(g.Address))
			col("guardian_phone", nullIfEmpty(g.Phone))
			col("guardian_email", nullIfEmpty(g.Email))
		case "special_categories":
			col("special_categories", nonNil(f.SpecialCategories))
		case "id_document_number":
			if err := putIdentifier(ctx, q, kr, id, pii.KindIDDocument, f.IDDocument); err != nil {
				return 0, err
			}
		case "national_ids":
			if err := putNational(ctx, q, kr, id, f.NationalIDs); err != nil {
				return 0, err
			}
		default:
			return 0, invalid("update_mask", "unknown field")
		}
	}
	var v int64
	sql := `UPDATE patrons SET version = version + 1, updated_at = $2`
	for _, s := range set {
		sql += ", " + s
	}
	err := q.QueryRow(ctx, sql+` WHERE id = $1 RETURNING version`, args...).Scan(&v)
	return v, err
}

// IssueCard makes card the patron's active card, revoking the current one
// (which stays on the record), and bumps the version.
func IssueCard(ctx context.Context, q Querier, id, card string, at time.Time) error {
	if _, err := q.Exec(ctx, `UPDATE cards SET active = false, revoked_at = $2 WHERE patron_id = $1 AND active`, id, at); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `INSERT INTO cards (card_number, patron_id, active, issued_at) VALUES ($1, $2, true, $3)`,
		NormalizeCard(card), id, at); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `UPDATE patrons SET version = version + 1, updated_at = $2 WHERE id = $1`, id, at)
	return err
}

// SetPin stores pinHash as the patron's PIN, with a new credentials
// version (which ends the patron's open sessions), and bumps the version.
func SetPin(ctx context.Context, q Querier, id, pinHash string, at time.Time) error {
	_, err := q.Exec(ctx, `UPDATE patrons SET pin_hash = $2, credentials_version = credentials_version + 1,
		version = version + 1, updated_at = $3 WHERE id = $1`, id, pinHash, at)
	return err
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
