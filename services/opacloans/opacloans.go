package opacloans

import (
	"context"
	"errors"
	"slices"
	"time"

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
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.OpacLoanServiceServer.
type Service struct {
	pb.UnimplementedOpacLoanServiceServer
	db    *pgxpool.Pool
	clock clock.Clock
}

// New returns the service.
func New(db *pgxpool.Pool, clk clock.Clock) *Service { return &Service{db: db, clock: clk} }

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterOpacLoanServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterOpacLoanServiceHandler(ctx, mux, conn)
}

// ListMyLoans implements pb.OpacLoanServiceServer.
func (s *Service) ListMyLoans(ctx context.Context, _ *pb.ListMyLoansRequest) (*pb.ListMyLoansResponse, error) {
	p, err := identity.RequirePatron(ctx)
	if err != nil {
		return nil, err
	}
	loans, err := circulation.ActiveLoansOfPatron(ctx, s.db, p.ID, "")
	if err != nil {
		return nil, store.Status(err)
	}
	now := s.clock.Now()
	out := &pb.ListMyLoansResponse{}
	for _, l := range loans {
		out.Loans = append(out.Loans, protoconv.Loan(l, now, nil))
	}
	return out, nil
}

// errRenewedThenEnded answers a retried renewal whose loan has ended since
// the first attempt renewed it.
var errRenewedThenEnded = status.Error(codes.FailedPrecondition,
	"this request was completed earlier and the loan has since ended")

// RenewMyLoan implements pb.OpacLoanServiceServer: circulation.RenewLoan
// for one of the caller's own active loans (another patron's loan is
// NOT_FOUND, as if it did not exist).
func (s *Service) RenewMyLoan(ctx context.Context, req *pb.RenewMyLoanRequest) (*pb.RenewMyLoanResponse, error) {
	p, err := identity.RequirePatron(ctx)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.ID, req.GetRequestId(), "RenewMyLoan", req)
	now := s.clock.Now()
	var loan circulation.Loan
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		resultID, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		id := req.GetLoanId()
		if replay {
			id = resultID
		}
		if loan, err = circulation.ActiveLoan(ctx, tx, id); err != nil {
			if replay && errors.Is(err, circulation.ErrLoanNotFound) {
				return errRenewedThenEnded
			}
			return err
		}
		if loan.PatronID != p.ID {
			return circulation.ErrLoanNotFound
		}
		if replay {
			return nil
		}
		if loan, err = circulation.RenewLoan(ctx, tx, loan.ID, "", now); err != nil {
			return err
		}
		if err := patron.Touch(ctx, tx, p.ID, now); err != nil {
			return err
		}
		return r.Done(ctx, tx, loan.ID)
	})
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.RenewMyLoanResponse{Loan: protoconv.Loan(loan, now, nil)}, nil
}

// errPickupCannotLend refuses a pickup library that cannot lend to the
// patron.
var errPickupCannotLend = status.Error(codes.FailedPrecondition,
	"the pickup library cannot lend to you: choose your home library or a library you share your data with")

// errPlacedThenEnded answers a retried reservation that has ended since.
var errPlacedThenEnded = status.Error(codes.FailedPrecondition,
	"this request was completed earlier and the reservation has since ended")

// PlaceMyReservation implements pb.OpacLoanServiceServer:
// circulation.PlaceReservation (an item) or PlaceRecordReservation (a
// title) for the caller, at a pickup library that can lend to them
// (pickupLibrary).
func (s *Service) PlaceMyReservation(ctx context.Context, req *pb.PlaceMyReservationRequest) (*pb.PlaceMyReservationResponse, error) {
	p, err := identity.RequirePatron(ctx)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.ID, req.GetRequestId(), "PlaceMyReservation", req)
	now := s.clock.Now()
	var res circulation.Reservation
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		resultID, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		if replay {
			if res, err = circulation.ActiveReservation(ctx, tx, resultID); errors.Is(err, circulation.ErrReservationGone) {
				return errPlacedThenEnded
			}
			return err
		}
		// A title has copies at several libraries: its hold defaults to
		// the home library (owning "").
		var item circulation.Item
		if req.GetRecordId() == "" {
			if item, err = circulation.ItemByBarcode(ctx, tx, req.GetItemBarcode()); err != nil {
				return err
			}
		}
		pickup, err := pickupLibrary(ctx, tx, p.ID, req.GetPickupLibraryId(), item.OwningLibraryID)
		if err != nil {
			return err
		}
		if rec := req.GetRecordId(); rec != "" {
			res, err = circulation.PlaceRecordReservation(ctx, tx, p.ID, pickup, rec, time.Time{}, now)
		} else {
			res, err = circulation.PlaceReservation(ctx, tx, p.ID, pickup, item.Barcode, time.Time{}, now)
		}
		if err != nil {
			return err
		}
		if err := patron.Touch(ctx, tx, p.ID, now); err != nil {
			return err
		}
		return r.Done(ctx, tx, res.ID)
	})
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.PlaceMyReservationResponse{Reservation: protoconv.Reservation(res, nil)}, nil
}

// pickupLibrary is the pickup library for a reservation by patronID:
// requested if given, else the item's owning library (none for a title),
// else the home library; it must be the home library or one the patron
// shares data with.
// That is the relation the built-in policy's loan.checkout grant needs, so
// the pickup library can lend the item (its checkout still goes through
// the active policy at the desk), and no library without the patron's
// consent learns of the reservation.
func pickupLibrary(ctx context.Context, tx pgx.Tx, patronID, requested, owning string) (string, error) {
	var home string
	var consented []string
	if err := tx.QueryRow(ctx, `SELECT home_library_id::text,
		  ARRAY(SELECT library_id::text FROM consents WHERE patron_id = p.id)
		FROM patrons p WHERE id = $1`, patronID).Scan(&home, &consented); err != nil {
		return "", err
	}
	can := func(lib string) bool { return lib == home || slices.Contains(consented, lib) }
	switch {
	case requested != "" && can(requested):
		return requested, nil
	case requested != "":
		return "", errPickupCannotLend
	case can(owning):
		return owning, nil
	default:
		return home, nil
	}
}

var outcomes = map[string]pb.HistoryOutcome{
	circulation.OutcomeReturned:  pb.HistoryOutcome_HISTORY_OUTCOME_RETURNED,
	circulation.OutcomeFulfilled: pb.HistoryOutcome_HISTORY_OUTCOME_FULFILLED,
	circulation.OutcomeCancelled: pb.HistoryOutcome_HISTORY_OUTCOME_CANCELLED,
	circulation.OutcomeExpired:   pb.HistoryOutcome_HISTORY_OUTCOME_EXPIRED,
}

// ListMyHistory implements pb.OpacLoanServiceServer.
func (s *Service) ListMyHistory(ctx context.Context, req *pb.ListMyHistoryRequest) (*pb.ListMyHistoryResponse, error) {
	p, err := identity.RequirePatron(ctx)
	if err != nil {
		return nil, err
	}
	limit, offset, err := protoconv.Page(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	entries, err := circulation.History(ctx, s.db, p.ID, limit, offset)
	if err != nil {
		return nil, store.Status(err)
	}
	out := &pb.ListMyHistoryResponse{NextPageToken: protoconv.NextPageToken(offset, limit, len(entries))}
	for _, e := range entries {
		kind := pb.HistoryEntryKind_HISTORY_ENTRY_KIND_LOAN
		if e.Kind == circulation.EntryReservation {
			kind = pb.HistoryEntryKind_HISTORY_ENTRY_KIND_RESERVATION
		}
		out.Entries = append(out.Entries, &pb.HistoryEntry{
			Id: e.ID, Kind: kind, Outcome: outcomes[e.Outcome], ItemBarcode: e.Barcode, Title: e.Title, RecordId: e.RecordID,
			LibraryId: e.LibraryID, StartTime: protoconv.Time(e.StartedAt), EndTime: protoconv.Time(e.EndedAt),
		})
	}
	return out, nil
}

func (s *Service) deleteHistory(ctx context.Context, entryID string) (int, error) {
	p, err := identity.RequirePatron(ctx)
	if err != nil {
		return 0, err
	}
	var n int
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		n, err = circulation.DeleteHistory(ctx, tx, p.ID, entryID)
		return err
	})
	return n, store.Status(err)
}

// ClearMyHistory implements pb.OpacLoanServiceServer.
func (s *Service) ClearMyHistory(ctx context.Context, _ *pb.ClearMyHistoryRequest) (*pb.ClearMyHistoryResponse, error) {
	n, err := s.deleteHistory(ctx, "")
	if err != nil {
		return nil, err
	}
	return &pb.ClearMyHistoryResponse{DeletedCount: int32(n)}, nil
}

// DeleteMyHistoryEntry implements pb.OpacLoanServiceServer.
func (s *Service) DeleteMyHistoryEntry(ctx context.Context, req *pb.DeleteMyHistoryEntryRequest) (*pb.DeleteMyHistoryEntryResponse, error) {
	if _, err := s.deleteHistory(ctx, req.GetEntryId()); err != nil {
		return nil, err
	}
	return &pb.DeleteMyHistoryEntryResponse{}, nil
}

// ListMyReservations implements pb.OpacLoanServiceServer.
func (s *Service) ListMyReservations(ctx context.Context, _ *pb.ListMyReservationsRequest) (*pb.ListMyReservationsResponse, error) {
	p, err := identity.RequirePatron(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := circulation.ActiveReservationsOfPatron(ctx, s.db, p.ID, "")
	if err != nil {
		return nil, store.Status(err)
	}
	out := &pb.ListMyReservationsResponse{}
	for _, r := range rs {
		out.Reservations = append(out.Reservations, protoconv.Reservation(r, nil))
	}
	return out, nil
}

// CancelMyReservation implements pb.OpacLoanServiceServer.
func (s *Service) CancelMyReservation(ctx context.Context, req *pb.CancelMyReservationRequest) (*pb.CancelMyReservationResponse, error) {
	p, err := identity.RequirePatron(ctx)
	if err != nil {
		return nil, err
	}
	if err := circulation.CancelReservation(ctx, s.db, req.GetReservationId(), "", p.ID, s.clock.Now()); err != nil {
		return nil, store.Status(err)
	}
	return &pb.CancelMyReservationResponse{}, nil
}

// ListMyFees implements pb.OpacLoanServiceServer.
func (s *Service) ListMyFees(ctx context.Context, _ *pb.ListMyFeesRequest) (*pb.ListMyFeesResponse, error) {
	p, err := identity.RequirePatron(ctx)
	if err != nil {
		return nil, err
	}
	fees, err := circulation.FeesOfPatron(ctx, s.db, p.ID, false)
	if err != nil {
		return nil, store.Status(err)
	}
	notices, err := circulation.NoticesOfPatron(ctx, s.db, p.ID)
	if err != nil {
		return nil, store.Status(err)
	}
	debts, err := circulation.DebtsAt(ctx, s.db, p.ID, s.clock.Now())
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.ListMyFeesResponse{
		Fees:    protoconv.Fees(fees, protoconv.Fee),
		Notices: protoconv.Notices(notices, protoconv.Notice),
		Debts:   protoconv.Debts(debts),
	}, nil
}
