package loanaccess

import (
	"context"
	"encoding/json"
	"slices"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/circulation"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/policy"
)

// Decider is the access policy: policystore.Reloader, which reports the
// version that decided.
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, int64, error)
}

// Querier is a pgx.Tx or a pool.
type Querier = circulation.Querier

// Guard decides and audits staff access to patrons in circulation.
type Guard struct {
	policy Decider
	audit  *audit.Writer
}

// New returns a Guard.
func New(d Decider, w *audit.Writer) *Guard { return &Guard{policy: d, audit: w} }

// Check is one policy decision about one patron.
type Check struct {
	Input    policy.Input
	Decision policy.Decision
	Version  int64
}

// Subject describes the caller to the policy.
func Subject(p identity.Principal) policy.Subject {
	return policy.Subject{Kind: string(p.Kind), AccountID: p.ID, LibraryID: p.LibraryID, Permissions: p.Permissions}
}

// Decide loads patronID (through q, so inside a transaction it sees the
// transaction's state) and asks whether p may do action. It records
// nothing; call Record before returning data, also for denials.
func (g *Guard) Decide(ctx context.Context, q Querier, p identity.Principal, action, patronID string) (Check, error) {
	res, err := patron.LoadResource(ctx, q, patronID)
	if err != nil {
		return Check{}, err
	}
	return g.decide(ctx, p, action, res)
}

// decide asks the policy whether p may do action on the patron res.
func (g *Guard) decide(ctx context.Context, p identity.Principal, action string, res policy.Resource) (Check, error) {
	in := policy.Input{Subject: Subject(p), Action: action, Resource: res}
	d, v, err := g.policy.Decide(ctx, in)
	if err != nil {
		// Fail closed: the decision is a denial; the cause is logged by
		// the caller's status (internal) without personal data.
		return Check{}, status.Error(codes.Internal, "access policy failed")
	}
	return Check{Input: in, Decision: d, Version: v}, nil
}

// DecideMany is Decide for several patrons, loaded in one query (a page
// of a library's loans). Patrons that do not exist are left out.
func (g *Guard) DecideMany(ctx context.Context, q Querier, p identity.Principal, action string, patronIDs []string) (map[string]Check, error) {
	res, err := patron.LoadResources(ctx, q, patronIDs)
	if err != nil {
		return nil, err
	}
	return g.decideAll(ctx, p, action, res)
}

// DecideWithContacts is DecideMany that also returns, rendered for its
// decision, the contact of each patron the decision allows, read in the
// same statement as the patrons' resources (a desk's list, or one
// patron's loans or holds: one statement instead of two).
func (g *Guard) DecideWithContacts(ctx context.Context, q Querier, p identity.Principal, action string, patronIDs []string) (map[string]Check, map[string]*pb.LoanPatron, error) {
	res, cs, err := patron.LoadResourcesAndContacts(ctx, q, patronIDs)
	if err != nil {
		return nil, nil, err
	}
	checks, err := g.decideAll(ctx, p, action, res)
	if err != nil {
		return nil, nil, err
	}
	who := make(map[string]*pb.LoanPatron, len(checks))
	for id, c := range checks {
		if c.Decision.Allow {
			who[id] = contact(cs[id], c.Decision)
		}
	}
	return checks, who, nil
}

// DecideWithContact is Decide that also returns the patron's contact
// rendered for the decision (nil if denied), read in the same statement.
func (g *Guard) DecideWithContact(ctx context.Context, q Querier, p identity.Principal, action, patronID string) (Check, *pb.LoanPatron, error) {
	res, c, err := patron.LoadResourceAndContact(ctx, q, patronID)
	if err != nil {
		return Check{}, nil, err
	}
	check, err := g.decide(ctx, p, action, res)
	if err != nil || !check.Decision.Allow {
		return check, nil, err
	}
	return check, contact(c, check.Decision), nil
}

func (g *Guard) decideAll(ctx context.Context, p identity.Principal, action string, res map[string]policy.Resource) (map[string]Check, error) {
	out := make(map[string]Check, len(res))
	for id, r := range res {
		c, err := g.decide(ctx, p, action, r)
		if err != nil {
			return nil, err
		}
		out[id] = c
	}
	return out, nil
}

// Record writes one audit row per check and returns once they are
// committed. fields, if not nil, is what was actually returned for every
// check (e.g. nothing for a checkout that failed after the decision);
// otherwise the decision's fields.
func (g *Guard) Record(ctx context.Context, p identity.Principal, checks ...Check) error {
	if len(checks) == 0 {
		return nil
	}
	entries := make([]audit.Entry, len(checks))
	for i, c := range checks {
		e := audit.EntryFor(ctx, p, c.Input.Action, c.Input.Resource.PatronID)
		e.Allowed = c.Decision.Allow
		e.Reasons = c.Decision.Reasons
		e.Fields = c.Decision.Fields
		e.PolicyVersion = c.Version
		e.Input = InputJSON(c.Input)
		entries[i] = e
	}
	if err := g.audit.Record(ctx, entries...); err != nil {
		return status.Error(codes.Unavailable, "cannot write the audit log right now; nothing was returned")
	}
	return nil
}

// RecordOther audits an access that is not a policy decision (the last
// borrower of an item), with the rule that allows it as the reason.
func (g *Guard) RecordOther(ctx context.Context, p identity.Principal, action, patronID, reason string, fields []string) error {
	e := audit.EntryFor(ctx, p, action, patronID)
	e.Allowed = true
	e.Reasons = []string{reason}
	e.Fields = fields
	if err := g.audit.Record(ctx, e); err != nil {
		return status.Error(codes.Unavailable, "cannot write the audit log right now; nothing was returned")
	}
	return nil
}

// SeesPatron reports whether the caller's library may see the patron as a
// whole (home library or consent), not only through an active loan there:
// such staff see all of the patron's active loans, the others only their
// own library's.
func (c Check) SeesPatron() bool {
	lib := c.Input.Subject.LibraryID
	r := c.Input.Resource
	return lib != "" && (lib == r.HomeLibraryID || slices.Contains(r.ConsentLibraryIDs, lib))
}

// Denied is the status for a denied check: PERMISSION_DENIED with the
// policy's reasons (ids and rules only, no personal data). When the
// caller's library lacks the patron's consent, it carries ErrorInfo reason
// CONSENT_REQUIRED and the message says what the patron can do.
func Denied(c Check) error {
	msg := "access denied"
	if len(c.Decision.Reasons) > 0 {
		msg = "access denied: " + joinReasons(c.Decision.Reasons)
	}
	st := status.New(codes.PermissionDenied, msg)
	lib := c.Input.Subject.LibraryID
	if lib != "" && lib != c.Input.Resource.HomeLibraryID && !slices.Contains(c.Input.Resource.ConsentLibraryIDs, lib) {
		if d, err := st.WithDetails(&errdetails.ErrorInfo{
			Reason:   "CONSENT_REQUIRED",
			Domain:   "patronfed",
			Metadata: map[string]string{"library_id": lib},
		}); err == nil {
			st = d
		}
	}
	return st.Err()
}

func joinReasons(rs []string) string {
	out := rs[0]
	for _, r := range rs[1:] {
		out += "; " + r
	}
	return out
}

// Contact renders the patron for staff handling a loan, with only the field
// groups d allows: name; cards (the active card number); address; contact
// (e-mail, phone).
func Contact(ctx context.Context, q Querier, patronID string, d policy.Decision) (*pb.LoanPatron, error) {
	c, err := patron.LoanContact(ctx, q, patronID)
	if err != nil {
		return nil, err
	}
	return contact(c, d), nil
}

func contact(c patron.Contact, d policy.Decision) *pb.LoanPatron {
	out := &pb.LoanPatron{PatronId: c.PatronID}
	if d.Has(policy.FieldName) {
		out.Name = c.Name
	}
	if d.Has(policy.FieldCards) {
		out.CardNumber = c.CardNumber
	}
	if d.Has(policy.FieldAddress) {
		out.Address = c.Address
	}
	if d.Has(policy.FieldContact) {
		out.Email, out.Phone = c.Email, c.Phone
	}
	return out
}

// InputJSON is the policy input in the canonical form the audit log keeps
// (the document the Rego policy sees): ids, permissions and flags only.
func InputJSON(in policy.Input) json.RawMessage {
	type subject struct {
		Kind        string   `json:"kind"`
		AccountID   string   `json:"account_id"`
		LibraryID   string   `json:"library_id"`
		Permissions []string `json:"permissions"`
	}
	type resource struct {
		PatronID             string   `json:"patron_id"`
		HomeLibraryID        string   `json:"home_library_id"`
		ConsentLibraryIDs    []string `json:"consent_library_ids"`
		ActiveLoanLibraryIDs []string `json:"active_loan_library_ids"`
		OptionalDataConsent  bool     `json:"optional_data_consent"`
		Archived             bool     `json:"archived"`
	}
	nn := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	s, r := in.Subject, in.Resource
	b, _ := json.Marshal(struct {
		Subject  subject  `json:"subject"`
		Action   string   `json:"action"`
		Resource resource `json:"resource"`
	}{
		subject{s.Kind, s.AccountID, s.LibraryID, nn(s.Permissions)},
		in.Action,
		resource{r.PatronID, r.HomeLibraryID, nn(r.ConsentLibraryIDs), nn(r.ActiveLoanLibraryIDs), r.OptionalDataConsent, r.Archived},
	})
	return b
}
