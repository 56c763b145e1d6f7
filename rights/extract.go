package rights

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
)

// Format names the extract's JSON layout; a change of layout gets a new
// version.
const Format = "patronfed.extract/v1"

// Extract is everything held about one patron (privacy-rules §1), as one
// JSON document. Every section is present; an empty one is an empty list
// or null. Sections the reader may not see are named in Withheld.
type Extract struct {
	Format      string    `json:"format"`
	GeneratedAt time.Time `json:"generated_at"`
	PatronID    string    `json:"patron_id"`

	Identity    Identity     `json:"identity"`
	Identifiers *Identifiers `json:"identifiers"`
	Cards       []Card       `json:"cards"`

	Consents       Consents       `json:"consents"`
	ConsentHistory []ConsentEvent `json:"consent_history"`

	ActiveLoans  []ActiveLoan   `json:"active_loans"`
	Reservations []Reservation  `json:"reservations"`
	History      []HistoryEntry `json:"history"`
	// HistoryCount is the number of history entries, also when their
	// content is withheld.
	HistoryCount int `json:"history_count"`

	Fees       []Fee       `json:"fees"`
	Notices    []Notice    `json:"notices"`
	Suspension *Suspension `json:"suspension"`

	SelfRegistrations []SelfRegistration `json:"self_registrations"`
	EventSignups      []EventSignup      `json:"event_signups"`
	LoginTrail        *LoginTrail        `json:"login_trail"`
	RightsRequests    []RightsRequest    `json:"rights_requests"`
	// AccessLog is who read or tried to read the record: when, which
	// library and role, what action, which field groups (from the audit
	// log, for the period it is kept).
	AccessLog []AccessLogEntry `json:"access_log"`

	Withheld []string `json:"withheld"`
}

// Library names a member library.
type Library struct {
	ID   string `json:"id"`
	Code string `json:"code"`
	Name string `json:"name"`
}

// Identity is the patron record.
type Identity struct {
	FirstName           string     `json:"first_name,omitempty"`
	LastName            string     `json:"last_name,omitempty"`
	BirthDate           string     `json:"birth_date,omitempty"`
	PermanentAddress    string     `json:"permanent_address,omitempty"`
	ContactAddress      string     `json:"contact_address,omitempty"`
	Email               string     `json:"email,omitempty"`
	Phone               string     `json:"phone,omitempty"`
	AcademicTitles      string     `json:"academic_titles,omitempty"`
	OptionalDataConsent bool       `json:"optional_data_consent"`
	Category            string     `json:"category,omitempty"`
	MotherTongue        string     `json:"mother_tongue,omitempty"`
	HomeLibrary         *Library   `json:"home_library,omitempty"`
	RegisteredAt        *time.Time `json:"registered_at,omitempty"`
	LastActivityAt      *time.Time `json:"last_activity_at,omitempty"`
	ArchivedAt          *time.Time `json:"archived_at,omitempty"`
	AnonymisedAt        *time.Time `json:"anonymised_at,omitempty"`
	Guardian            *Guardian  `json:"guardian,omitempty"`
	SpecialCategories   []string   `json:"special_categories,omitempty"`
	HasPIN              bool       `json:"has_pin"`
}

// Guardian of a minor.
type Guardian struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Email   string `json:"email,omitempty"`
}

// Identifiers are the decrypted identity document number and national
// identifiers.
type Identifiers struct {
	IDDocument  string       `json:"id_document,omitempty"`
	NationalIDs []NationalID `json:"national_ids"`
}

// NationalID is one national identifier.
type NationalID struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Card is a library card.
type Card struct {
	Number    string     `json:"number"`
	Active    bool       `json:"active"`
	IssuedAt  time.Time  `json:"issued_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Consents are the consents in force.
type Consents struct {
	OptionalData      bool             `json:"optional_data"`
	OptionalDataSince *time.Time       `json:"optional_data_since,omitempty"`
	SharedWith        []LibraryConsent `json:"shared_with"`
}

// LibraryConsent is a consent to share with one library.
type LibraryConsent struct {
	LibraryID string    `json:"library_id"`
	GrantedAt time.Time `json:"granted_at"`
	Method    string    `json:"method"`
}

// ConsentEvent is one grant or withdrawal.
type ConsentEvent struct {
	At        time.Time `json:"at"`
	Scope     string    `json:"scope"`
	LibraryID string    `json:"library_id,omitempty"`
	Granted   bool      `json:"granted"`
	Method    string    `json:"method"`
	ActorKind string    `json:"actor_kind"`
	// ActorLibraryID: the library whose staff recorded it.
	ActorLibraryID string `json:"actor_library_id,omitempty"`
}

// ActiveLoan is an item on loan.
type ActiveLoan struct {
	LoanID       string    `json:"loan_id"`
	ItemBarcode  string    `json:"item_barcode"`
	Title        string    `json:"title"`
	LibraryID    string    `json:"library_id"`
	CheckedOutAt time.Time `json:"checked_out_at"`
	DueAt        time.Time `json:"due_at"`
	Renewals     int       `json:"renewals"`
}

// Reservation is an active reservation: of an item, or of a title
// (RecordID; ItemBarcode is then the copy captured for it, if any).
type Reservation struct {
	ReservationID   string    `json:"reservation_id"`
	ItemBarcode     string    `json:"item_barcode"`
	RecordID        string    `json:"record_id,omitempty"`
	Title           string    `json:"title"`
	PickupLibraryID string    `json:"pickup_library_id"`
	PlacedAt        time.Time `json:"placed_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	// ReadyAt: since when the copy waits on the pickup library's hold
	// shelf.
	ReadyAt *time.Time `json:"ready_at,omitempty"`
	// NotifiedAt: when the pickup library recorded telling the patron.
	NotifiedAt *time.Time `json:"notified_at,omitempty"`
}

// HistoryEntry is a returned loan or a finished reservation not yet
// anonymised.
type HistoryEntry struct {
	Kind        string    `json:"kind"` // loan, reservation
	Outcome     string    `json:"outcome"`
	ID          string    `json:"id"`
	ItemBarcode string    `json:"item_barcode"`
	RecordID    string    `json:"record_id,omitempty"`
	Title       string    `json:"title"`
	LibraryID   string    `json:"library_id"`
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at"`
}

// Fee is a fee with its payments; amounts in minor units.
type Fee struct {
	ID         string     `json:"id"`
	LibraryID  string     `json:"library_id"`
	Kind       string     `json:"kind"`
	Amount     int64      `json:"amount"`
	PaidAmount int64      `json:"paid_amount"`
	Currency   string     `json:"currency"`
	ChargedAt  time.Time  `json:"charged_at"`
	SettledAt  *time.Time `json:"settled_at,omitempty"`
	// LoanID and the item are empty once the loan has left the history.
	LoanID      string    `json:"loan_id,omitempty"`
	ItemBarcode string    `json:"item_barcode,omitempty"`
	Title       string    `json:"title,omitempty"`
	Payments    []Payment `json:"payments"`
}

// Payment is one payment of a fee.
type Payment struct {
	Amount    int64     `json:"amount"`
	LibraryID string    `json:"library_id"`
	PaidAt    time.Time `json:"paid_at"`
}

// Notice is a reminder or demand letter with its claims.
type Notice struct {
	ID        string    `json:"id"`
	LibraryID string    `json:"library_id"`
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
	Claims    []Claim   `json:"claims"`
}

// Claim is one claim of a notice.
type Claim struct {
	Kind     string     `json:"kind"` // item, fee
	LoanID   string     `json:"loan_id,omitempty"`
	FeeID    string     `json:"fee_id,omitempty"`
	DueAt    *time.Time `json:"due_at,omitempty"`
	Amount   *int64     `json:"amount,omitempty"`
	Currency string     `json:"currency,omitempty"`
}

// Suspension of the patron's services.
type Suspension struct {
	LibraryID string     `json:"library_id"`
	Reason    string     `json:"reason"`
	Until     *time.Time `json:"until,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// SelfRegistration is the patron's registration request from the
// catalogue (after completion only when and where remain).
type SelfRegistration struct {
	LibraryID   string     `json:"library_id"`
	Status      string     `json:"status"`
	FirstName   string     `json:"first_name,omitempty"`
	LastName    string     `json:"last_name,omitempty"`
	Address     string     `json:"address,omitempty"`
	Phone       string     `json:"phone,omitempty"`
	Email       string     `json:"email,omitempty"`
	Username    string     `json:"username,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// EventSignup is a sign-up for a library event.
type EventSignup struct {
	LibraryID string `json:"library_id"`
	EventName string `json:"event_name"`
	EventDate string `json:"event_date"`
}

// LoginTrail is the last login to the catalogue (only the last is kept).
type LoginTrail struct {
	At *time.Time `json:"at"`
	IP string     `json:"ip,omitempty"`
}

// RightsRequest is an access or erasure request of the patron.
type RightsRequest struct {
	Kind        string     `json:"kind"`
	Status      string     `json:"status"`
	RequestedAt time.Time  `json:"requested_at"`
	DueAt       time.Time  `json:"due_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
}

// AccessLogEntry is one audited access to the record. It names the
// library and roles, never the staff member.
type AccessLogEntry struct {
	At          time.Time `json:"at"`
	ActorKind   string    `json:"actor_kind"`
	LibraryID   string    `json:"library_id,omitempty"`
	LibraryCode string    `json:"library_code,omitempty"`
	Roles       []string  `json:"roles"`
	Action      string    `json:"action"`
	Allowed     bool      `json:"allowed"`
	Fields      []string  `json:"fields"`
}

// Scope is what the reader of an extract may see.
type Scope struct {
	// Self: the patron, who sees everything, identifiers decrypted.
	Self bool
	// For staff: the field groups of their patron.read decision, and
	// whether loan.read and fee.read were allowed.
	Fields      []string
	Loans, Fees bool
}

func (s Scope) has(group string) bool { return s.Self || slices.Contains(s.Fields, group) }

// Reasons a section is withheld from staff.
const (
	withheldHistory = "history: returned loans and finished reservations are shown only to the patron (privacy-rules §2.4); history_count says how many there are"
	withheldTrail   = "login_trail, access_log: shown only to the patron"
)

// Build collects the extract of patronID for scope, in q (use one
// read-only snapshot). A NotFound status if there is no such patron.
func Build(ctx context.Context, q Querier, kr *pii.Keyring, patronID string, s Scope, now time.Time) (*Extract, error) {
	x := &Extract{Format: Format, GeneratedAt: now.UTC(), PatronID: patronID}
	x.empty()
	b := builder{ctx: ctx, q: q, id: patronID}
	if err := b.identity(x, s); err != nil {
		return nil, err
	}
	for _, g := range []string{policy.FieldName, policy.FieldBirthDate, policy.FieldAddress, policy.FieldCards, policy.FieldService,
		policy.FieldContact, policy.FieldGuardian, policy.FieldIDDocument, policy.FieldNationalIDs, policy.FieldSpecialCategory} {
		if !s.has(g) {
			x.Withheld = append(x.Withheld, g+": not returned to you by the access policy")
		}
	}
	doc, nat := s.has(policy.FieldIDDocument), s.has(policy.FieldNationalIDs)
	if doc || nat {
		ids, err := patron.LoadIdentifiers(ctx, q, kr, patronID, doc, nat)
		if err != nil {
			return nil, err
		}
		x.Identifiers = &Identifiers{IDDocument: ids.IDDocument.Reveal(), NationalIDs: []NationalID{}}
		for _, n := range ids.National {
			x.Identifiers.NationalIDs = append(x.Identifiers.NationalIDs, NationalID{Kind: n.Kind, Value: n.Value.Reveal()})
		}
	}
	steps := []struct {
		on bool
		fn func(*Extract) error
	}{
		{s.has(policy.FieldCards), b.cards},
		{s.has(policy.FieldService), b.consents},
		{s.Self || s.Loans, b.loans},
		{true, b.history},
		{s.Self || s.Fees, b.fees},
		{s.has(policy.FieldService), b.registrations},
		{s.has(policy.FieldService), b.requests},
		{s.Self, b.trail},
	}
	for _, st := range steps {
		if !st.on {
			continue
		}
		if err := st.fn(x); err != nil {
			return nil, err
		}
	}
	if !s.Self {
		if !s.Loans {
			x.Withheld = append(x.Withheld, "active_loans, reservations: not returned to you by the access policy")
		}
		if !s.Fees {
			x.Withheld = append(x.Withheld, "fees, notices, suspension: not returned to you by the access policy")
		}
		x.History = []HistoryEntry{}
		x.Withheld = append(x.Withheld, withheldHistory, withheldTrail)
	}
	return x, nil
}

// empty gives every list section an empty list, so that the JSON says []
// rather than null for "none".
func (x *Extract) empty() {
	x.Cards, x.Withheld, x.Consents.SharedWith = []Card{}, []string{}, []LibraryConsent{}
	x.ConsentHistory, x.ActiveLoans, x.Reservations, x.History = []ConsentEvent{}, []ActiveLoan{}, []Reservation{}, []HistoryEntry{}
	x.Fees, x.Notices = []Fee{}, []Notice{}
	x.SelfRegistrations, x.EventSignups, x.RightsRequests, x.AccessLog = []SelfRegistration{}, []EventSignup{}, []RightsRequest{}, []AccessLogEntry{}
}

var errNoPatron = status.Error(codes.NotFound, "patron not found")

type builder struct {
	ctx context.Context
	q   Querier
	id  string
}

func (b builder) identity(x *Extract, s Scope) error {
	var (
		id                                              Identity
		first, last, birth, perm, contact, email, phone *string
		titles, tongue, gName, gAddr, gPhone, gEmail    *string
		lib                                             Library
		registered                                      time.Time
		special                                         []string
		trailAt                                         *time.Time
		trailIP                                         *string
	)
	err := b.q.QueryRow(b.ctx, `
		SELECT p.first_name, p.last_name, to_char(p.birth_date, 'YYYY-MM-DD'), p.permanent_address, p.contact_address,
		  p.email, p.phone, p.academic_titles, p.optional_data_consent, p.category, p.mother_tongue,
		  l.id::text, l.code, l.name, p.registered_at, p.last_activity_at, p.archived_at, p.anonymised_at,
		  p.guardian_name, p.guardian_address, p.guardian_phone, p.guardian_email, p.special_categories,
		  p.pin_hash IS NOT NULL, p.last_login_at, host(p.last_login_ip)
		FROM patrons p JOIN libraries l ON l.id = p.home_library_id WHERE p.id = $1`, b.id).Scan(
		&first, &last, &birth, &perm, &contact, &email, &phone, &titles, &id.OptionalDataConsent, &id.Category, &tongue,
		&lib.ID, &lib.Code, &lib.Name, &registered, &id.LastActivityAt, &id.ArchivedAt, &id.AnonymisedAt,
		&gName, &gAddr, &gPhone, &gEmail, &special, &id.HasPIN, &trailAt, &trailIP)
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoPatron
	}
	if err != nil {
		return err
	}
	if s.has(policy.FieldName) {
		id.FirstName, id.LastName = str(first), str(last)
	}
	if s.has(policy.FieldBirthDate) {
		id.BirthDate = str(birth)
	}
	if s.has(policy.FieldAddress) {
		id.PermanentAddress, id.ContactAddress = str(perm), str(contact)
	}
	if s.has(policy.FieldContact) {
		id.Email, id.Phone, id.AcademicTitles = str(email), str(phone), str(titles)
	}
	if s.has(policy.FieldService) {
		id.MotherTongue, id.HomeLibrary, id.RegisteredAt = str(tongue), &lib, &registered
	} else {
		id.Category, id.OptionalDataConsent, id.LastActivityAt, id.ArchivedAt, id.AnonymisedAt, id.HasPIN = "", false, nil, nil, nil, false
	}
	if s.has(policy.FieldGuardian) && gName != nil {
		id.Guardian = &Guardian{Name: *gName, Address: str(gAddr), Phone: str(gPhone), Email: str(gEmail)}
	}
	if s.has(policy.FieldSpecialCategory) {
		id.SpecialCategories = special
	}
	x.Identity = id
	if s.Self {
		x.LoginTrail = &LoginTrail{At: trailAt, IP: str(trailIP)}
	}
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (b builder) cards(x *Extract) error {
	rows, err := b.q.Query(b.ctx, `SELECT card_number, active, issued_at, revoked_at FROM cards WHERE patron_id = $1
		ORDER BY active DESC, issued_at DESC, card_number`, b.id)
	if err != nil {
		return err
	}
	x.Cards, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Card])
	return err
}

func (b builder) consents(x *Extract) error {
	if err := b.q.QueryRow(b.ctx, `SELECT optional_data_consent, optional_data_consent_at FROM patrons WHERE id = $1`, b.id).
		Scan(&x.Consents.OptionalData, &x.Consents.OptionalDataSince); err != nil {
		return err
	}
	rows, err := b.q.Query(b.ctx, `SELECT library_id::text, granted_at, method FROM consents WHERE patron_id = $1
		ORDER BY granted_at, library_id`, b.id)
	if err != nil {
		return err
	}
	if x.Consents.SharedWith, err = pgx.CollectRows(rows, pgx.RowToStructByPos[LibraryConsent]); err != nil {
		return err
	}
	rows, err = b.q.Query(b.ctx, `SELECT at, scope, coalesce(library_id::text, ''), granted, method, actor_kind,
		coalesce(actor_library_id::text, '') FROM consent_events WHERE patron_id = $1 ORDER BY id`, b.id)
	if err != nil {
		return err
	}
	x.ConsentHistory, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ConsentEvent])
	return err
}

// recordTitle is the title of a title hold r that has no copy captured:
// that of the record's first copy.
const recordTitle = `(SELECT c.title FROM items c WHERE c.record_id = r.record_id ORDER BY c.created_at, c.id LIMIT 1)`

func (b builder) loans(x *Extract) error {
	rows, err := b.q.Query(b.ctx, `SELECT l.id::text, i.barcode, i.title, l.lending_library_id::text, l.checked_out_at, l.due_at, l.renewals
		FROM loans l JOIN items i ON i.id = l.item_id WHERE l.patron_id = $1 AND l.returned_at IS NULL ORDER BY l.due_at, l.id`, b.id)
	if err != nil {
		return err
	}
	if x.ActiveLoans, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ActiveLoan]); err != nil {
		return err
	}
	rows, err = b.q.Query(b.ctx, `SELECT r.id::text, coalesce(i.barcode, ''), coalesce(r.record_id, ''),
			coalesce(i.title, `+recordTitle+`, ''), r.pickup_library_id::text, r.placed_at, r.expires_at, r.ready_at, r.notified_at
		FROM reservations r LEFT JOIN items i ON i.id = r.item_id WHERE r.patron_id = $1 AND r.status = 'active' ORDER BY r.placed_at, r.id`, b.id)
	if err != nil {
		return err
	}
	x.Reservations, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Reservation])
	return err
}

// history fills the history for the patron; for staff only its size is
// kept (Build empties it).
func (b builder) history(x *Extract) error {
	rows, err := b.q.Query(b.ctx, `
		SELECT 'loan', 'returned', l.id::text, i.barcode, '', i.title, l.lending_library_id::text, l.checked_out_at, l.returned_at
			FROM loans l JOIN items i ON i.id = l.item_id WHERE l.patron_id = $1 AND l.returned_at IS NOT NULL
		UNION ALL
		SELECT 'reservation', r.status, r.id::text, coalesce(i.barcode, ''), coalesce(r.record_id, ''),
				coalesce(i.title, `+recordTitle+`, ''), r.pickup_library_id::text, r.placed_at, r.finished_at
			FROM reservations r LEFT JOIN items i ON i.id = r.item_id WHERE r.patron_id = $1 AND r.status <> 'active'
		ORDER BY 9 DESC, 3`, b.id)
	if err != nil {
		return err
	}
	x.History, err = pgx.CollectRows(rows, pgx.RowToStructByPos[HistoryEntry])
	x.HistoryCount = len(x.History)
	return err
}

func (b builder) fees(x *Extract) error {
	rows, err := b.q.Query(b.ctx, `
		SELECT f.id::text, f.library_id::text, f.kind, f.amount, f.paid_amount, f.currency, f.charged_at, f.settled_at,
		  coalesce(f.loan_id::text, ''), coalesce(i.barcode, ''), coalesce(i.title, ''),
		  coalesce((SELECT json_agg(json_build_object('amount', p.amount, 'library_id', p.library_id, 'paid_at', p.paid_at)
		            ORDER BY p.paid_at, p.id) FROM payments p WHERE p.fee_id = f.id), '[]')
		FROM fees f LEFT JOIN loans l ON l.id = f.loan_id LEFT JOIN items i ON i.id = l.item_id
		WHERE f.patron_id = $1 ORDER BY f.charged_at, f.id`, b.id)
	if err != nil {
		return err
	}
	if x.Fees, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Fee]); err != nil {
		return err
	}
	rows, err = b.q.Query(b.ctx, `
		SELECT n.id::text, n.library_id::text, n.kind, n.created_at,
		  coalesce((SELECT json_agg(json_build_object('kind', c.kind, 'loan_id', c.loan_id, 'fee_id', c.fee_id,
		            'due_at', c.due_at, 'amount', c.amount, 'currency', c.currency) ORDER BY c.id)
		            FROM notice_claims c WHERE c.notice_id = n.id), '[]')
		FROM notices n WHERE n.patron_id = $1 ORDER BY n.created_at, n.id`, b.id)
	if err != nil {
		return err
	}
	if x.Notices, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Notice]); err != nil {
		return err
	}
	var sp Suspension
	err = b.q.QueryRow(b.ctx, `SELECT library_id::text, reason, suspended_until, created_at FROM patron_suspensions WHERE patron_id = $1`, b.id).
		Scan(&sp.LibraryID, &sp.Reason, &sp.Until, &sp.CreatedAt)
	switch {
	case err == nil:
		x.Suspension = &sp
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	return nil
}

func (b builder) registrations(x *Extract) error {
	rows, err := b.q.Query(b.ctx, `SELECT library_id::text, status, coalesce(first_name, ''), coalesce(last_name, ''),
		coalesce(address, ''), coalesce(phone, ''), coalesce(email, ''), coalesce(username, ''), requested_at, completed_at
		FROM self_registrations WHERE patron_id = $1 ORDER BY requested_at`, b.id)
	if err != nil {
		return err
	}
	if x.SelfRegistrations, err = pgx.CollectRows(rows, pgx.RowToStructByPos[SelfRegistration]); err != nil {
		return err
	}
	rows, err = b.q.Query(b.ctx, `SELECT library_id::text, event_name, to_char(event_date, 'YYYY-MM-DD')
		FROM event_signups WHERE patron_id = $1 ORDER BY event_date, id`, b.id)
	if err != nil {
		return err
	}
	x.EventSignups, err = pgx.CollectRows(rows, pgx.RowToStructByPos[EventSignup])
	return err
}

func (b builder) requests(x *Extract) error {
	rows, err := b.q.Query(b.ctx, `SELECT kind, status, requested_at, due_at, closed_at FROM rights_requests
		WHERE patron_id = $1 ORDER BY requested_at, id`, b.id)
	if err != nil {
		return err
	}
	x.RightsRequests, err = pgx.CollectRows(rows, pgx.RowToStructByPos[RightsRequest])
	return err
}

func (b builder) trail(x *Extract) error {
	rows, err := b.q.Query(b.ctx, `SELECT a.at, a.actor_kind, coalesce(a.actor_library_id::text, ''), coalesce(l.code, ''),
		a.actor_roles, a.action, a.allowed, a.fields
		FROM audit_log a LEFT JOIN libraries l ON l.id = a.actor_library_id WHERE a.patron_id = $1 ORDER BY a.seq`, b.id)
	if err != nil {
		return err
	}
	x.AccessLog, err = pgx.CollectRows(rows, pgx.RowToStructByPos[AccessLogEntry])
	return err
}
