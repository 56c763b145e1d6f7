package rights

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/circulation"
	"github.com/patronfed/patronfed/retention"
)

// Confirmation is the written confirmation of an erasure (§4.2). It holds
// no personal data.
type Confirmation struct {
	ID, RequestID, PatronID, LibraryID string
	ErasedAt                           time.Time
	ErasedBy                           Actor
	Summary                            map[string]int64
	Text                               string
}

// Erase answers the pending erasure request req, which the caller has
// locked (Get with lock) in tx. While the patron owes anything or is
// suspended, the request is closed as refused with the reasons, and the
// debts are returned (see RefusalError); otherwise the patron is
// anonymised (retention.AnonymisePatron), the request fulfilled and the
// confirmation stored, all in tx.
func Erase(ctx context.Context, tx pgx.Tx, req Request, by Actor, now time.Time) (Request, *Confirmation, circulation.PatronDebts, error) {
	if req.Kind != KindErasure || req.Status != StatusPending {
		return req, nil, circulation.PatronDebts{}, status.Error(codes.FailedPrecondition, "the request is not a pending erasure request")
	}
	var anonymised bool
	if err := tx.QueryRow(ctx, `SELECT anonymised_at IS NOT NULL FROM patrons WHERE id = $1 FOR UPDATE`, req.PatronID).Scan(&anonymised); err != nil {
		return req, nil, circulation.PatronDebts{}, err
	}
	if anonymised {
		return req, nil, circulation.PatronDebts{}, status.Error(codes.FailedPrecondition, "the patron's data has already been anonymised")
	}
	debts, err := circulation.DebtsAt(ctx, tx, req.PatronID, now)
	if err != nil {
		return req, nil, debts, err
	}
	if debts.Any() {
		req, err = Close(ctx, tx, req.ID, StatusRefused, by, debts.Reasons(), now)
		return req, nil, debts, err
	}
	sum, err := retention.AnonymisePatron(ctx, tx, req.PatronID, now)
	if err != nil {
		return req, nil, debts, err
	}
	if req, err = Close(ctx, tx, req.ID, StatusFulfilled, by, nil, now); err != nil {
		return req, nil, debts, err
	}
	var code string
	if err := tx.QueryRow(ctx, `SELECT code FROM libraries WHERE id = $1`, req.LibraryID).Scan(&code); err != nil {
		return req, nil, debts, err
	}
	c := &Confirmation{RequestID: req.ID, PatronID: req.PatronID, LibraryID: req.LibraryID, ErasedAt: now, ErasedBy: by,
		Summary: sum, Text: letter(req, code, sum, now)}
	raw, _ := json.Marshal(sum) // cannot fail: a map of numbers
	err = tx.QueryRow(ctx, `INSERT INTO erasure_confirmations (request_id, patron_id, library_id, erased_at, erased_by_kind, erased_by, summary, text)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text`,
		c.RequestID, c.PatronID, c.LibraryID, now, by.Kind, by.account(), raw, c.Text).Scan(&c.ID)
	return req, c, debts, err
}

// summaryLabels word the summary kinds for the letter, in its order.
var summaryLabels = []struct{ kind, label string }{
	{"patron_record", "personal details of the patron record (name, date of birth, addresses, contact data, guardian, language, special categories, PIN, login trail)"},
	{"identifiers", "identity document and national identifiers"},
	{"cards", "library cards"},
	{"consents", "consents in force"},
	{"self_registrations", "self-registration requests"},
	{"event_signups", "event sign-ups"},
	{"suspensions", "suspension records"},
	{"idempotency_records", "records of recent requests"},
	{"last_borrower_marks", "\"last borrower\" marks on items"},
}

// keptLabels word what stays, without the person, for statistics and
// accounting.
var keptLabels = []struct{ kind, label string }{
	{"loans", "loans (item, library and dates, for statistics)"},
	{"reservations", "reservations (for statistics)"},
	{"fees", "fees (amounts and dates, for the accounts)"},
	{"notices", "reminders and demand letters"},
	{"notice_claims", "claims of letters"},
	{"consent_history", "consent history events"},
}

// letter writes the confirmation. It names the request, the library and
// what was done, never the person.
func letter(req Request, libraryCode string, sum map[string]int64, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Confirmation of erasure\n\n")
	fmt.Fprintf(&b, "Library %s has erased the personal data of the patron who made erasure request %s on %s.\n",
		libraryCode, req.ID, req.RequestedAt.UTC().Format(time.DateOnly))
	deadline := "within the 30-day deadline"
	if now.After(req.DueAt) {
		deadline = fmt.Sprintf("after the deadline of %s", req.DueAt.UTC().Format(time.DateOnly))
	}
	fmt.Fprintf(&b, "The erasure was carried out on %s, %s.\n\nRemoved:\n", now.UTC().Format("2006-01-02 15:04 MST"), deadline)
	for _, l := range summaryLabels {
		if n := sum[l.kind]; n > 0 {
			fmt.Fprintf(&b, "  - %s (%d)\n", l.label, n)
		}
	}
	b.WriteString("\nKept without any link to the person:\n")
	kept := false
	for _, l := range keptLabels {
		if n := sum[l.kind]; n > 0 {
			fmt.Fprintf(&b, "  - %s (%d)\n", l.label, n)
			kept = true
		}
	}
	if !kept {
		b.WriteString("  - nothing\n")
	}
	b.WriteString("\nThe audit log of who read the record is kept unchanged for its retention period (security, privacy-rules §3) and then deleted.\n")
	b.WriteString("This confirmation holds no personal data.\n")
	return b.String()
}

// RefusalError is the FAILED_PRECONDITION an erasure refused for debts
// answers: the reasons in the message (no names, no titles) and one
// PreconditionFailure violation per unreturned item, unpaid fee and
// suspension.
func RefusalError(d circulation.PatronDebts) error {
	pf := &errdetails.PreconditionFailure{}
	for _, it := range d.UnreturnedItems {
		pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
			Type: "UNRETURNED_ITEM", Subject: "items/" + it.Barcode,
			Description: fmt.Sprintf("item %s, due %s, lent by library %s, is not returned", it.Barcode,
				it.Due.UTC().Format(time.DateOnly), it.LendingLibraryID),
		})
	}
	for _, f := range d.UnpaidFees {
		pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
			Type: "UNPAID_FEE", Subject: "fees/" + f.ID,
			Description: fmt.Sprintf("%s fee %s: %s unpaid", f.Kind, f.ID, circulation.FormatAmount(f.Amount, f.Currency)),
		})
	}
	if d.Suspended {
		desc := "the patron's services are suspended"
		if d.SuspendedUntil != nil {
			desc += " until " + d.SuspendedUntil.UTC().Format(time.DateOnly)
		}
		pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{Type: "SUSPENDED", Subject: "suspension", Description: desc})
	}
	st := status.New(codes.FailedPrecondition, "erasure refused: "+strings.Join(d.Reasons(), "; ")+
		"; the request is closed as refused and can be made again once settled")
	if ds, err := st.WithDetails(pf); err == nil {
		st = ds
	}
	return st.Err()
}

// ListConfirmations returns a library's confirmations, newest first.
func ListConfirmations(ctx context.Context, q Querier, libraryID string, limit, offset int) ([]Confirmation, error) {
	rows, err := q.Query(ctx, `SELECT id::text, request_id::text, patron_id::text, library_id::text, erased_at, erased_by_kind,
		coalesce(erased_by::text, ''), summary, text FROM erasure_confirmations WHERE library_id = $1
		ORDER BY erased_at DESC, id LIMIT $2 OFFSET $3`, libraryID, limit, offset)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Confirmation, error) {
		var c Confirmation
		err := r.Scan(&c.ID, &c.RequestID, &c.PatronID, &c.LibraryID, &c.ErasedAt, &c.ErasedBy.Kind, &c.ErasedBy.ID, &c.Summary, &c.Text)
		return c, err
	})
}
