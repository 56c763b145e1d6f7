package access

import (
	"context"
	"encoding/json"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/policy"
)

// Decider answers access questions and reports the version of the policy
// bundle that decided; policystore.Reloader is one, Static wraps an engine.
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, int64, error)
}

// Static is a Decider with a fixed engine and version (tests, tools).
type Static struct {
	Engine  *policy.Engine
	Version int64
}

// Decide implements Decider.
func (s Static) Decide(ctx context.Context, in policy.Input) (policy.Decision, int64, error) {
	d, err := s.Engine.Decide(ctx, in)
	return d, s.Version, err
}

// Recorder appends audit entries durably; *audit.Writer is one.
type Recorder interface {
	Record(ctx context.Context, entries ...audit.Entry) error
}

// Guard decides with the policy and records every decision.
type Guard struct {
	policy Decider
	rec    Recorder
	log    *slog.Logger
}

// NewGuard returns a guard.
func NewGuard(p Decider, rec Recorder, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{policy: p, rec: rec, log: log}
}

// Subject is the policy's view of a caller. Only staff act for a library.
func Subject(p identity.Principal) policy.Subject {
	s := policy.Subject{Kind: string(p.Kind), AccountID: p.ID, Permissions: p.Permissions}
	if p.Kind == identity.KindStaff {
		s.LibraryID = p.LibraryID
	}
	return s
}

// Decision is one decided question, ready to be audited.
type Decision struct {
	policy.Decision
	Input   policy.Input
	Version int64
}

// Decide asks the policy about in. An evaluation error is a denial (fail
// closed), logged without personal data.
func (g *Guard) Decide(ctx context.Context, in policy.Input) Decision {
	d, v, err := g.policy.Decide(ctx, in)
	if err != nil {
		g.log.ErrorContext(ctx, "policy evaluation failed; denying", "action", in.Action, "error_type", errType(err))
		d.Allow, d.Fields = false, nil
	}
	return Decision{Decision: d, Input: in, Version: v}
}

// DecideFor is Decide for principal p doing action on resource r.
func (g *Guard) DecideFor(ctx context.Context, p identity.Principal, action string, r policy.Resource) Decision {
	return g.Decide(ctx, policy.Input{Subject: Subject(p), Action: action, Resource: r})
}

// Entry is the audit entry of decision d made for p. Fields are those
// returned: none when denied.
func (g *Guard) Entry(ctx context.Context, p identity.Principal, d Decision) audit.Entry {
	e := audit.EntryFor(ctx, p, d.Input.Action, d.Input.Resource.PatronID)
	e.Allowed = d.Allow
	e.Reasons = d.Reasons
	if d.Allow {
		e.Fields = d.Fields
	}
	e.PolicyVersion = d.Version
	e.Input = InputJSON(d.Input)
	return e
}

// Record writes entries and returns once they are committed; on failure the
// handler must not answer with data: it gets UNAVAILABLE to return.
func (g *Guard) Record(ctx context.Context, entries ...audit.Entry) error {
	if err := g.rec.Record(ctx, entries...); err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		g.log.ErrorContext(ctx, "audit log unavailable; refusing the request")
		return status.Error(codes.Unavailable, "the audit log is unavailable; try again")
	}
	return nil
}

// Denied is the answer to any denied access to a patron: the same whether
// the patron does not exist, is not visible to the caller, or the caller
// lacks a permission (AIP-211), so that a denial reveals nothing.
func Denied() error {
	return status.Error(codes.PermissionDenied,
		"permission denied: you may not access this patron, or there is no such patron; "+
			"staff of another library need the patron's consent to share with their library")
}

// input is the JSON form of a policy input: exactly the input document the
// Rego policy sees (see package policy).
type input struct {
	Subject struct {
		Kind        string   `json:"kind"`
		AccountID   string   `json:"account_id"`
		LibraryID   string   `json:"library_id"`
		Permissions []string `json:"permissions"`
	} `json:"subject"`
	Action   string `json:"action"`
	Resource struct {
		PatronID             string   `json:"patron_id"`
		HomeLibraryID        string   `json:"home_library_id"`
		ConsentLibraryIDs    []string `json:"consent_library_ids"`
		ActiveLoanLibraryIDs []string `json:"active_loan_library_ids"`
		OptionalDataConsent  bool     `json:"optional_data_consent"`
		Archived             bool     `json:"archived"`
	} `json:"resource"`
}

// InputJSON renders in as the policy's input document. It holds ids and
// flags only.
func InputJSON(in policy.Input) json.RawMessage {
	var j input
	j.Subject.Kind, j.Subject.AccountID, j.Subject.LibraryID = in.Subject.Kind, in.Subject.AccountID, in.Subject.LibraryID
	j.Subject.Permissions = nonNil(in.Subject.Permissions)
	j.Action = in.Action
	r := &j.Resource
	r.PatronID, r.HomeLibraryID = in.Resource.PatronID, in.Resource.HomeLibraryID
	r.ConsentLibraryIDs = nonNil(in.Resource.ConsentLibraryIDs)
	r.ActiveLoanLibraryIDs = nonNil(in.Resource.ActiveLoanLibraryIDs)
	r.OptionalDataConsent, r.Archived = in.Resource.OptionalDataConsent, in.Resource.Archived
	b, _ := json.Marshal(j) // cannot fail: strings and bools only
	return b
}

// ParseInput is the inverse of InputJSON (for replaying audited decisions).
func ParseInput(raw json.RawMessage) (policy.Input, error) {
	var j input
	if err := json.Unmarshal(raw, &j); err != nil {
		return policy.Input{}, err
	}
	return policy.Input{
		Subject: policy.Subject{Kind: j.Subject.Kind, AccountID: j.Subject.AccountID,
			LibraryID: j.Subject.LibraryID, Permissions: j.Subject.Permissions},
		Action: j.Action,
		Resource: policy.Resource{
			PatronID: j.Resource.PatronID, HomeLibraryID: j.Resource.HomeLibraryID,
			ConsentLibraryIDs: j.Resource.ConsentLibraryIDs, ActiveLoanLibraryIDs: j.Resource.ActiveLoanLibraryIDs,
			OptionalDataConsent: j.Resource.OptionalDataConsent, Archived: j.Resource.Archived,
		},
	}, nil
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func errType(err error) string {
	if _, ok := err.(*policy.BundleError); ok {
		return "bundle"
	}
	return "evaluation"
}

// Refusal is the audit entry of an attempt the handler refused although
// (or before) the policy allowed it, e.g. writing a field group the
// decision does not return. It carries no policy input: it is not a policy
// decision, so a policy dry run does not replay it.
func (g *Guard) Refusal(ctx context.Context, p identity.Principal, d Decision, reason string) audit.Entry {
	e := audit.EntryFor(ctx, p, d.Input.Action, d.Input.Resource.PatronID)
	e.Allowed = false
	e.Reasons = append(append([]string{}, d.Reasons...), "refused: "+reason)
	e.PolicyVersion = d.Version
	return e
}
