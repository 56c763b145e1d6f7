package patron

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
)

// Fields are the writable fields of a patron record.
type Fields struct {
	FirstName, LastName string
	BirthDate           string // YYYY-MM-DD
	PermanentAddress    string
	ContactAddress      string

	Email, Phone, AcademicTitles string

	Category     string
	MotherTongue string

	Guardian          *Guardian
	IDDocument        pii.Redacted
	NationalIDs       []NationalID
	SpecialCategories []string
}

// Names of the writable fields (as in the API's update mask), with the
// policy field group each belongs to.
var fieldGroup = map[string]string{
	"first_name":         policy.FieldName,
	"last_name":          policy.FieldName,
	"birth_date":         policy.FieldBirthDate,
	"permanent_address":  policy.FieldAddress,
	"contact_address":    policy.FieldAddress,
	"email":              policy.FieldContact,
	"phone":              policy.FieldContact,
	"academic_titles":    policy.FieldContact,
	"category":           policy.FieldService,
	"mother_tongue":      policy.FieldService,
	"guardian":           policy.FieldGuardian,
	"id_document_number": policy.FieldIDDocument,
	"national_ids":       policy.FieldNationalIDs,
	"special_categories": policy.FieldSpecialCategory,
}

// GroupOf returns the policy field group of a writable field, or "".
func GroupOf(field string) string { return fieldGroup[field] }

// SpecialAccessibleMedia marks a patron registered with an accessible-media
// service.
const SpecialAccessibleMedia = "accessible_media"

// DefaultCategory is the category of a patron registered without one.
const DefaultCategory = "adult"

// NormalizeCard is the stored form of a card number (upper case).
func NormalizeCard(card string) string { return strings.ToUpper(strings.TrimSpace(card)) }

// FieldsOf returns the writable fields of a stored record (without the
// identifiers, which Record does not hold).
func FieldsOf(r *Record) Fields {
	f := Fields{
		FirstName: r.FirstName, LastName: r.LastName, BirthDate: r.BirthDate,
		PermanentAddress: r.PermanentAddress, ContactAddress: r.ContactAddress,
		Email: r.Email, Phone: r.Phone, AcademicTitles: r.AcademicTitles,
		Category: r.Category, MotherTongue: r.MotherTongue,
		SpecialCategories: slices.Clone(r.SpecialCategories),
	}
	if r.Guardian != nil {
		g := *r.Guardian
		f.Guardian = &g
	}
	return f
}

// Settings are the home library's settings that shape a patron record.
type Settings struct {
	// MinorAge: under it a patron is a minor and needs a guardian.
	MinorAge                                          int
	CollectEmail, CollectPhone, CollectAcademicTitles bool
}

// LoadSettings returns the library's settings; INVALID_ARGUMENT on field
// if there is no such library.
func LoadSettings(ctx context.Context, q Querier, libraryID, field string) (Settings, error) {
	var s Settings
	err := q.QueryRow(ctx, `SELECT minor_age, collect_email, collect_phone, collect_academic_titles
		FROM library_settings WHERE library_id = $1`, libraryID).
		Scan(&s.MinorAge, &s.CollectEmail, &s.CollectPhone, &s.CollectAcademicTitles)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, invalid(field, "no such library")
	}
	return s, err
}

// ParseDate parses a YYYY-MM-DD date.
func ParseDate(s string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("not a valid YYYY-MM-DD date")
	}
	return d, nil
}

// Age is the age in whole years on day today of someone born on birth.
func Age(birth, today time.Time) int {
	age := today.Year() - birth.Year()
	if today.Month() < birth.Month() || today.Month() == birth.Month() && today.Day() < birth.Day() {
		age--
	}
	return age
}

// Check validates the complete state of a record after a registration or
// an update: required fields, dates, a guardian for a minor (by the home
// library's minor age, on today's date in UTC), optional data only with
// consent and only where the library collects it, one identifier per kind.
// prefix is the request field holding f ("patron").
func Check(f *Fields, optionalConsent bool, s Settings, now time.Time, prefix string) error {
	for _, req := range []struct{ name, v string }{
		{"first_name", f.FirstName}, {"last_name", f.LastName},
		{"birth_date", f.BirthDate}, {"permanent_address", f.PermanentAddress},
	} {
		if strings.TrimSpace(req.v) == "" {
			return invalid(prefix+"."+req.name, "required")
		}
	}
	birth, err := ParseDate(f.BirthDate)
	if err != nil {
		return invalid(prefix+".birth_date", err.Error())
	}
	today := now.UTC()
	if birth.After(today) || birth.Year() < 1900 {
		return invalid(prefix+".birth_date", "must be between 1900-01-01 and today")
	}
	if Age(birth, today) < s.MinorAge && (f.Guardian == nil || strings.TrimSpace(f.Guardian.Name) == "") {
		return precondition("GUARDIAN_REQUIRED", prefix+".guardian",
			"the patron is a minor under the home library's minor age and needs a guardian")
	}
	optional := map[string]struct {
		set     bool
		collect bool
	}{
		"email":           {f.Email != "", s.CollectEmail},
		"phone":           {f.Phone != "", s.CollectPhone},
		"academic_titles": {f.AcademicTitles != "", s.CollectAcademicTitles},
	}
	for _, name := range []string{"email", "phone", "academic_titles"} {
		o := optional[name]
		if !o.set {
			continue
		}
		if !optionalConsent {
			return precondition("OPTIONAL_DATA_CONSENT", prefix+"."+name,
				"optional contact data is kept only with the patron's consent to optional data")
		}
		if !o.collect {
			return precondition("NOT_COLLECTED", prefix+"."+name, "the home library does not collect "+name)
		}
	}
	seen := map[string]bool{}
	for _, id := range f.NationalIDs {
		if !IsNationalKind(id.Kind) {
			return invalid(prefix+".national_ids", "unknown kind")
		}
		if seen[id.Kind] {
			return invalid(prefix+".national_ids", "at most one identifier of each kind")
		}
		seen[id.Kind] = true
		if id.Value.IsZero() {
			return invalid(prefix+".national_ids", "empty value")
		}
	}
	for _, c := range f.SpecialCategories {
		if c != SpecialAccessibleMedia {
			return invalid(prefix+".special_categories", "unknown special category")
		}
	}
	return nil
}

// nullIfEmpty stores "" as NULL.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
