package replay

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/policy"
)

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Kind says how a decision changed.
type Kind int

// Kinds of change.
const (
	AllowToDeny Kind = iota + 1
	DenyToAllow
	FieldsChanged
)

// Outcome is one decision.
type Outcome struct {
	Allow         bool
	Fields        []string
	Reasons       []string
	PolicyVersion int64
}

// Change is an audited decision the candidate decides differently.
type Change struct {
	Seq            int64
	At             time.Time
	ActorID        string
	ActorLibraryID string
	Action         string
	PatronID       string
	Kind           Kind
	Before, After  Outcome
}

// Result sums up a dry run.
type Result struct {
	Evaluated     int
	AllowToDeny   int
	DenyToAllow   int
	FieldsChanged int
	// Errors counts rows whose input could not be decoded or evaluated.
	Errors    int
	Changes   []Change
	Truncated bool
}

// Run replays the last rows of audit_log that carry an input through
// engine (whose bundle is version) and compares each decision with the
// recorded one. At most maxChanges changes are kept; the counts cover all.
func Run(ctx context.Context, q Querier, engine *policy.Engine, version int64, last, maxChanges int) (Result, error) {
	rows, err := q.Query(ctx, `
		SELECT seq, at, coalesce(actor_id::text, ''), coalesce(actor_library_id::text, ''), action,
		       coalesce(patron_id::text, ''), allowed, coalesce(reasons, '{}'), coalesce(fields, '{}'),
		       coalesce(policy_version, 0), input
		FROM audit_log WHERE input ? 'subject' ORDER BY seq DESC LIMIT $1`, last)
	if err != nil {
		return Result{}, err
	}
	defer rows.Close()
	var res Result
	for rows.Next() {
		var (
			c   Change
			raw []byte
		)
		if err := rows.Scan(&c.Seq, &c.At, &c.ActorID, &c.ActorLibraryID, &c.Action, &c.PatronID,
			&c.Before.Allow, &c.Before.Reasons, &c.Before.Fields, &c.Before.PolicyVersion, &raw); err != nil {
			return Result{}, err
		}
		res.Evaluated++
		in, err := DecodeInput(raw)
		if err != nil {
			res.Errors++
			continue
		}
		d, err := engine.Decide(ctx, in)
		if err != nil {
			res.Errors++
		}
		c.After = Outcome{Allow: d.Allow, Fields: d.Fields, Reasons: d.Reasons, PolicyVersion: version}
		switch {
		case c.Before.Allow && !d.Allow:
			c.Kind = AllowToDeny
			res.AllowToDeny++
		case !c.Before.Allow && d.Allow:
			c.Kind = DenyToAllow
			res.DenyToAllow++
		case d.Allow && !sameSet(c.Before.Fields, d.Fields):
			c.Kind = FieldsChanged
			res.FieldsChanged++
		default:
			continue
		}
		if len(res.Changes) < maxChanges {
			res.Changes = append(res.Changes, c)
		} else {
			res.Truncated = true
		}
	}
	return res, rows.Err()
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// DecodeInput reads a stored policy input. The canonical form is the
// document the Rego policy sees (snake_case keys, see package policy); a
// policy.Input marshalled with Go's default field names is accepted too.
func DecodeInput(raw []byte) (policy.Input, error) {
	var doc struct {
		Subject *struct {
			Kind        string   `json:"kind"`
			AccountID   string   `json:"account_id"`
			LibraryID   string   `json:"library_id"`
			Permissions []string `json:"permissions"`
		} `json:"subject"`
		Action   string `json:"action"`
		Resource *struct {
			PatronID             string   `json:"patron_id"`
			HomeLibraryID        string   `json:"home_library_id"`
			ConsentLibraryIDs    []string `json:"consent_library_ids"`
			ActiveLoanLibraryIDs []string `json:"active_loan_library_ids"`
			OptionalDataConsent  bool     `json:"optional_data_consent"`
			Archived             bool     `json:"archived"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return policy.Input{}, err
	}
	if doc.Subject == nil || doc.Resource == nil || doc.Action == "" {
		return policy.Input{}, errors.New("replay: input lacks subject, action or resource")
	}
	s, r := doc.Subject, doc.Resource
	in := policy.Input{
		Subject: policy.Subject{Kind: s.Kind, AccountID: s.AccountID, LibraryID: s.LibraryID, Permissions: s.Permissions},
		Action:  doc.Action,
		Resource: policy.Resource{PatronID: r.PatronID, HomeLibraryID: r.HomeLibraryID,
			ConsentLibraryIDs: r.ConsentLibraryIDs, ActiveLoanLibraryIDs: r.ActiveLoanLibraryIDs,
			OptionalDataConsent: r.OptionalDataConsent, Archived: r.Archived},
	}
	// Go's default field names (AccountID, PatronID, ...) do not match the
	// snake_case tags; fall back to a plain decode into policy.Input.
	if in.Subject.AccountID == "" && in.Resource.PatronID == "" {
		var goForm policy.Input
		if err := json.Unmarshal(raw, &goForm); err == nil && (goForm.Subject.AccountID != "" || goForm.Resource.PatronID != "") {
			return goForm, nil
		}
	}
	return in, nil
}
