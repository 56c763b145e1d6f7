package loans

import (
	"context"
	"errors"
	"slices"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/circulation"
	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/services/loanaccess"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.LoanServiceServer.
type Service struct {
	pb.UnimplementedLoanServiceServer
	db    *pgxpool.Pool
	clock clock.Clock
	guard *loanaccess.Guard
}

// New returns the service.
func New(db *pgxpool.Pool, clk clock.Clock, guard *loanaccess.Guard) *Service {
	return &Service{db: db, clock: clk, guard: guard}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterLoanServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterLoanServiceHandler(ctx, mux, conn)
}

// ActionLastBorrower is the audit action of GetLastBorrower. It is not a
// policy action: the privacy rules allow it outright to the owning library.
const ActionLastBorrower = "loan.last_borrower"

var (
	errEndedSince = status.Error(codes.FailedPrecondition,
		"this request was completed earlier and what it created has since ended")
	errOwningLibrary = status.Error(codes.PermissionDenied, "only staff of the item's owning library can do this")
	errOwnLibrary    = status.Error(codes.PermissionDenied, "staff see only their own library's loans")
	errNoBorrower    = status.Error(codes.NotFound, "the item has no ended loan")
	// errDenied rolls back a transaction whose policy check denied; the
	// handler then records the denial and answers loanaccess.Denied.
	errDenied = errors.New("denied")
)

// endedSince explains a replay whose result is gone: the loan returned,
// the reservation finished or the patron deleted the history entry.
func endedSince(err error) error {
	if errors.Is(err, circulation.ErrLoanNotFound) || errors.Is(err, circulation.ErrReservationGone) || errors.Is(err, pgx.ErrNoRows) {
		return errEndedSince
	}
	return err
}

// CreateItem implements pb.LoanServiceServer.
func (s *Service) CreateItem(ctx context.Context, req *pb.CreateItemRequest) (*pb.CreateItemResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	it, err := circulation.CreateItem(ctx, s.db, p.LibraryID, req.GetBarcode(), req.GetTitle(), req.GetRecordId(), s.clock.Now())
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.CreateItemResponse{Item: protoconv.Item(it)}, nil
}

// itemStatusNames are the statuses UpdateItem may set.
var itemStatusNames = map[pb.ItemStatus]string{
	pb.ItemStatus_ITEM_STATUS_AVAILABLE: circulation.ItemAvailable,
	pb.ItemStatus_ITEM_STATUS_MISSING:   circulation.ItemMissing,
	pb.ItemStatus_ITEM_STATUS_WITHDRAWN: circulation.ItemWithdrawn,
}

// UpdateItem implements pb.LoanServiceServer: circulation.UpdateItem for
// an item of the caller's library. Setting values is idempotent, so it
// takes no request_id.
func (s *Service) UpdateItem(ctx context.Context, req *pb.UpdateItemRequest) (*pb.UpdateItemResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	var ch circulation.ItemChange
	ch.Title, ch.RecordID = req.Title, req.RecordId
	if req.Status != nil {
		st, ok := itemStatusNames[req.GetStatus()]
		if !ok { // protovalidate refuses the others first
			return nil, store.InvalidField("status", "must be available, missing or withdrawn")
		}
		ch.Status = &st
	}
	var it circulation.Item
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		it, err = circulation.UpdateItem(ctx, tx, p.LibraryID, req.GetItemBarcode(), ch, s.clock.Now())
		return err
	})
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.UpdateItemResponse{Item: protoconv.Item(it)}, nil
}

// GetItem implements pb.LoanServiceServer. An item is not personal data:
// any member library's circulation staff may look one up (a desk checking
// in another library's item needs it).
func (s *Service) GetItem(ctx context.Context, req *pb.GetItemRequest) (*pb.GetItemResponse, error) {
	if _, err := identity.RequireStaff(ctx, identity.PermLoanManage); err != nil {
		return nil, err
	}
	it, err := circulation.ItemByBarcode(ctx, s.db, req.GetItemBarcode())
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.GetItemResponse{Item: protoconv.Item(it)}, nil
}

// GetLastBorrower implements pb.LoanServiceServer: patron id, name and
// card of the item's last ended loan, to the owning library, audited.
func (s *Service) GetLastBorrower(ctx context.Context, req *pb.GetLastBorrowerRequest) (*pb.GetLastBorrowerResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	it, patronID, err := circulation.LastBorrower(ctx, s.db, req.GetItemBarcode())
	if err != nil {
		return nil, store.Status(err)
	}
	if it.OwningLibraryID != p.LibraryID {
		return nil, errOwningLibrary
	}
	if patronID == "" {
		return nil, errNoBorrower
	}
	c, err := patron.LoanContact(ctx, s.db, patronID)
	if err != nil {
		return nil, store.Status(err)
	}
	if err := s.guard.RecordOther(ctx, p, ActionLastBorrower, patronID,
		"staff of the owning library may see who last borrowed an item, and nothing more (privacy rules §2.4)",
		[]string{policy.FieldName, policy.FieldCards}); err != nil {
		return nil, err
	}
	return &pb.GetLastBorrowerResponse{LastBorrower: &pb.LoanPatron{PatronId: patronID, Name: c.Name, CardNumber: c.CardNumber}}, nil
}

// CheckOut implements pb.LoanServiceServer.
func (s *Service) CheckOut(ctx context.Context, req *pb.CheckOutRequest) (*pb.CheckOutResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.LibraryID, req.GetRequestId(), "CheckOut", req)
	var (
		loan    circulation.Loan
		check   loanaccess.Check
		checked bool
		who     *pb.LoanPatron
	)
	now := s.clock.Now()
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		checked = false
		resultID, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		var patronID string
		action := policy.ActionLoanCheckout
		if replay {
			if loan, err = circulation.ActiveLoan(ctx, tx, resultID); err != nil {
				return endedSince(err)
			}
			patronID, action = loan.PatronID, policy.ActionLoanRead
		} else if patronID, err = patron.IDByCard(ctx, tx, req.GetCardNumber()); err != nil {
			return err
		}
		if check, err = s.guard.Decide(ctx, tx, p, action, patronID); err != nil {
			return err
		}
		checked = true
		if !check.Decision.Allow {
			return errDenied
		}
		if !replay {
			if loan, err = circulation.CheckOut(ctx, tx, patronID, p.LibraryID, req.GetItemBarcode(), now); err != nil {
				return err
			}
			// Retention counts from the patron's last activity.
			if err := patron.Touch(ctx, tx, patronID, now); err != nil {
				return err
			}
			if err := r.Done(ctx, tx, loan.ID); err != nil {
				return err
			}
		}
		who, err = loanaccess.Contact(ctx, tx, patronID, check.Decision)
		return err
	})
	if err := s.finish(ctx, p, err, checked, check); err != nil {
		return nil, err
	}
	return &pb.CheckOutResponse{Loan: protoconv.Loan(loan, now, who)}, nil
}

// finish audits a write that made a policy check and maps its error. A
// check that allowed but whose write then failed is recorded with no
// fields: nothing was returned.
func (s *Service) finish(ctx context.Context, p identity.Principal, err error, checked bool, check loanaccess.Check) error {
	if checked {
		if err != nil {
			check.Decision.Fields = nil
		}
		if rerr := s.guard.Record(ctx, p, check); rerr != nil {
			return rerr
		}
	}
	if errors.Is(err, errDenied) {
		return loanaccess.Denied(check)
	}
	return store.Status(err)
}

// RenewLoan implements pb.LoanServiceServer.
func (s *Service) RenewLoan(ctx context.Context, req *pb.RenewLoanRequest) (*pb.RenewLoanResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.LibraryID, req.GetRequestId(), "RenewLoan", req)
	var (
		loan    circulation.Loan
		check   loanaccess.Check
		checked bool
		who     *pb.LoanPatron
	)
	now := s.clock.Now()
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		checked = false
		resultID, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		id := req.GetLoanId()
		if replay {
			id = resultID
		}
		if loan, err = circulation.ActiveLoan(ctx, tx, id); err != nil {
			if replay {
				return endedSince(err)
			}
			return err
		}
		if loan.LendingLibraryID != p.LibraryID {
			// Another library's loan is not this library's business.
			return circulation.ErrLoanNotFound
		}
		if check, err = s.guard.Decide(ctx, tx, p, policy.ActionLoanRead, loan.PatronID); err != nil {
			return err
		}
		checked = true
		if !check.Decision.Allow {
			return errDenied
		}
		if !replay {
			if loan, err = circulation.RenewLoan(ctx, tx, loan.ID, p.LibraryID, now); err != nil {
				return err
			}
			if err := patron.Touch(ctx, tx, loan.PatronID, now); err != nil {
				return err
			}
			if err := r.Done(ctx, tx, loan.ID); err != nil {
				return err
			}
		}
		who, err = loanaccess.Contact(ctx, tx, loan.PatronID, check.Decision)
		return err
	})
	if err := s.finish(ctx, p, err, checked, check); err != nil {
		return nil, err
	}
	return &pb.RenewLoanResponse{Loan: protoconv.Loan(loan, now, who)}, nil
}

// ownLibraryPage refuses a list of another library than the caller's and
// reads the page asked for.
func ownLibraryPage(p identity.Principal, library string, size int32, token string) (limit, offset int, err error) {
	if library != p.LibraryID {
		return 0, 0, errOwnLibrary
	}
	return protoconv.Page(size, token)
}

// ListTransits implements pb.LoanServiceServer. Copies only: nothing
// about a patron, so nothing to decide or audit.
func (s *Service) ListTransits(ctx context.Context, req *pb.ListTransitsRequest) (*pb.ListTransitsResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	limit, offset, err := ownLibraryPage(p, req.GetLibraryId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	outgoing := req.GetDirection() == pb.TransitDirection_TRANSIT_DIRECTION_OUTGOING
	ts, err := circulation.Transits(ctx, s.db, p.LibraryID, outgoing, limit, offset)
	if err != nil {
		return nil, store.Status(err)
	}
	out := &pb.ListTransitsResponse{NextPageToken: protoconv.NextPageToken(offset, limit, len(ts))}
	for _, t := range ts {
		out.Transits = append(out.Transits, &pb.Transit{Item: protoconv.Item(t.Item), SinceTime: protoconv.Time(t.Since)})
	}
	return out, nil
}

// CheckIn implements pb.LoanServiceServer. The answer names no patron, so
// there is nothing to decide or audit.
func (s *Service) CheckIn(ctx context.Context, req *pb.CheckInRequest) (*pb.CheckInResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.LibraryID, req.GetRequestId(), "CheckIn", req)
	var res circulation.CheckInResult
	now := s.clock.Now()
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		resultID, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		if replay && resultID == "" {
			// The first attempt received the item from transit: no loan.
			res, err = circulation.ReceivedOf(ctx, tx, req.GetItemBarcode())
			return err
		}
		if replay {
			if res, err = circulation.CheckInOf(ctx, tx, resultID); err != nil {
				return endedSince(err)
			}
			return nil
		}
		if res, err = circulation.CheckIn(ctx, tx, req.GetItemBarcode(), p.LibraryID, now); err != nil {
			return err
		}
		if res.LoanID != "" {
			if err := patron.Touch(ctx, tx, res.PatronID, now); err != nil {
				return err
			}
		}
		return r.Done(ctx, tx, res.LoanID)
	})
	if err != nil {
		return nil, store.Status(err)
	}
	out := &pb.CheckInResponse{
		Item: protoconv.Item(res.Item), LendingLibraryId: res.LendingLibraryID, ReturnTime: protoconv.Time(res.ReturnedAt),
		OverdueDays: int32(res.OverdueDays), Reserved: res.Reserved, PickupLibraryId: res.PickupLibraryID,
	}
	if res.OverdueFee != nil {
		out.OverdueFee = protoconv.StaffFee(*res.OverdueFee)
	}
	return out, nil
}

// ListPatronLoans implements pb.LoanServiceServer.
func (s *Service) ListPatronLoans(ctx context.Context, req *pb.ListPatronLoansRequest) (*pb.ListPatronLoansResponse, error) {
	p, err := identity.Require(ctx, identity.KindStaff)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var out []*pb.Loan
	err = s.readPatron(ctx, p, req.GetPatronId(), func(c loanaccess.Check, who *pb.LoanPatron) error {
		loans, err := circulation.ActiveLoansOfPatron(ctx, s.db, req.GetPatronId(), ownUnlessSeen(c, p))
		for _, l := range loans {
			out = append(out, protoconv.Loan(l, now, who))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.ListPatronLoansResponse{Loans: out}, nil
}

// ownUnlessSeen is the library filter of a patron's lists: none for staff
// who see the patron (home, consent), else their own library.
func ownUnlessSeen(c loanaccess.Check, p identity.Principal) string {
	if c.SeesPatron() {
		return ""
	}
	return p.LibraryID
}

// readPatron decides loan.read on patronID, reads with fn if allowed, and
// audits before anything is returned.
func (s *Service) readPatron(ctx context.Context, p identity.Principal, patronID string,
	fn func(loanaccess.Check, *pb.LoanPatron) error) error {
	check, who, err := s.guard.DecideWithContact(ctx, s.db, p, policy.ActionLoanRead, patronID)
	if err != nil {
		return store.Status(err)
	}
	if !check.Decision.Allow {
		if err := s.guard.Record(ctx, p, check); err != nil {
			return err
		}
		return loanaccess.Denied(check)
	}
	if err := fn(check, who); err != nil {
		return store.Status(err)
	}
	return s.guard.Record(ctx, p, check)
}

// listedPatrons decides once per patron among ids (repeats allowed)
// whether p may see them on a list of the library's loans or reservations
// (policy action loan.read), audits every decision, and returns the
// contact of each patron allowed; an entry whose patron the policy hides
// is listed without the patron.
func (s *Service) listedPatrons(ctx context.Context, p identity.Principal, ids []string) (map[string]*pb.LoanPatron, error) {
	var unique []string
	for _, id := range ids {
		if !slices.Contains(unique, id) {
			unique = append(unique, id)
		}
	}
	// One statement for the page's patrons: their resources and contacts.
	decided, who, err := s.guard.DecideWithContacts(ctx, s.db, p, policy.ActionLoanRead, unique)
	if err != nil {
		return nil, store.Status(err)
	}
	checks := make([]loanaccess.Check, 0, len(unique))
	for _, id := range unique {
		if c, ok := decided[id]; ok {
			checks = append(checks, c)
		}
	}
	if err := s.guard.Record(ctx, p, checks...); err != nil {
		return nil, err
	}
	return who, nil
}

// staffPage authenticates a staff caller (any role: the policy decides
// what of each patron they see) and pages a list of their own library.
func staffPage(ctx context.Context, library string, size int32, token string) (p identity.Principal, limit, offset int, err error) {
	if p, err = identity.Require(ctx, identity.KindStaff); err != nil {
		return p, 0, 0, err
	}
	limit, offset, err = ownLibraryPage(p, library, size, token)
	return p, limit, offset, err
}

// ListLibraryLoans implements pb.LoanServiceServer.
func (s *Service) ListLibraryLoans(ctx context.Context, req *pb.ListLibraryLoansRequest) (*pb.ListLibraryLoansResponse, error) {
	p, limit, offset, err := staffPage(ctx, req.GetLibraryId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	loans, err := circulation.ActiveLoansOfLibrary(ctx, s.db, p.LibraryID, req.GetOverdueOnly(), now, limit, offset)
	if err != nil {
		return nil, store.Status(err)
	}
	ids := make([]string, len(loans))
	for i, l := range loans {
		ids[i] = l.PatronID
	}
	who, err := s.listedPatrons(ctx, p, ids)
	if err != nil {
		return nil, err
	}
	out := &pb.ListLibraryLoansResponse{NextPageToken: protoconv.NextPageToken(offset, limit, len(loans))}
	for _, l := range loans {
		out.Loans = append(out.Loans, protoconv.Loan(l, now, who[l.PatronID]))
	}
	return out, nil
}
