package fees

import (
	"context"
	"errors"
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
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/services/loanaccess"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.FeeServiceServer.
type Service struct {
	pb.UnimplementedFeeServiceServer
	db    *pgxpool.Pool
	clock clock.Clock
	guard *loanaccess.Guard
}

// New returns the service.
func New(db *pgxpool.Pool, clk clock.Clock, guard *loanaccess.Guard) *Service {
	return &Service{db: db, clock: clk, guard: guard}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterFeeServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterFeeServiceHandler(ctx, mux, conn)
}

var (
	errHomeOnly   = status.Error(codes.PermissionDenied, "only staff of the patron's home library can suspend services")
	errDenied     = errors.New("denied")
	errEndedSince = status.Error(codes.FailedPrecondition, "this request was completed earlier and what it created no longer exists")
)

// ChargeFee implements pb.FeeServiceServer. The answer names no patron.
func (s *Service) ChargeFee(ctx context.Context, req *pb.ChargeFeeRequest) (*pb.ChargeFeeResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.LibraryID, req.GetRequestId(), "ChargeFee", req)
	var fee circulation.Fee
	now := s.clock.Now()
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		resultID, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		if replay {
			fee, err = circulation.FeeByID(ctx, tx, resultID)
			return err
		}
		if fee, err = circulation.ChargeDamage(ctx, tx, req.GetItemBarcode(), p.LibraryID, req.GetAmount(), now); err != nil {
			return err
		}
		return r.Done(ctx, tx, fee.ID)
	})
	if err != nil {
		return nil, store.Status(err)
	}
	// The charging library named the item itself.
	return &pb.ChargeFeeResponse{Fee: protoconv.Fee(fee)}, nil
}

// RecordPayment implements pb.FeeServiceServer: the charging library, or
// staff who may see the patron's fees, take the payment.
func (s *Service) RecordPayment(ctx context.Context, req *pb.RecordPaymentRequest) (*pb.RecordPaymentResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.LibraryID, req.GetRequestId(), "RecordPayment", req)
	var (
		fee     circulation.Fee
		check   loanaccess.Check
		checked bool
	)
	now := s.clock.Now()
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		checked = false
		_, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		if fee, err = circulation.FeeByID(ctx, tx, req.GetFeeId()); err != nil {
			return err
		}
		if fee.LibraryID != p.LibraryID {
			if check, err = s.guard.Decide(ctx, tx, p, policy.ActionFeeRead, fee.PatronID); err != nil {
				return err
			}
			checked = true
			if !check.Decision.Allow {
				return errDenied
			}
		}
		if replay {
			return nil
		}
		if fee, err = circulation.RecordPayment(ctx, tx, fee.ID, p.LibraryID, req.GetAmount(), now); err != nil {
			return err
		}
		return r.Done(ctx, tx, fee.ID)
	})
	if err := s.finish(ctx, p, err, checked, check); err != nil {
		return nil, err
	}
	return &pb.RecordPaymentResponse{Fee: protoconv.StaffFee(fee)}, nil
}

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

// read decides action on patronID, runs fn if allowed, and audits before
// anything is returned.
func (s *Service) read(ctx context.Context, action, patronID string, fn func() error) error {
	p, err := identity.Require(ctx, identity.KindStaff)
	if err != nil {
		return err
	}
	check, err := s.guard.Decide(ctx, s.db, p, action, patronID)
	if err != nil {
		return store.Status(err)
	}
	if !check.Decision.Allow {
		if err := s.guard.Record(ctx, p, check); err != nil {
			return err
		}
		return loanaccess.Denied(check)
	}
	if err := fn(); err != nil {
		return store.Status(err)
	}
	return s.guard.Record(ctx, p, check)
}

// ListPatronFees implements pb.FeeServiceServer.
func (s *Service) ListPatronFees(ctx context.Context, req *pb.ListPatronFeesRequest) (*pb.ListPatronFeesResponse, error) {
	var out []*pb.Fee
	err := s.read(ctx, policy.ActionFeeRead, req.GetPatronId(), func() error {
		fs, err := circulation.FeesOfPatron(ctx, s.db, req.GetPatronId(), req.GetUnpaidOnly())
		out = protoconv.Fees(fs, protoconv.StaffFee)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.ListPatronFeesResponse{Fees: out}, nil
}

// ListPatronNotices implements pb.FeeServiceServer.
func (s *Service) ListPatronNotices(ctx context.Context, req *pb.ListPatronNoticesRequest) (*pb.ListPatronNoticesResponse, error) {
	var out []*pb.Notice
	err := s.read(ctx, policy.ActionFeeRead, req.GetPatronId(), func() error {
		ns, err := circulation.NoticesOfPatron(ctx, s.db, req.GetPatronId())
		out = protoconv.Notices(ns, protoconv.StaffNotice)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.ListPatronNoticesResponse{Notices: out}, nil
}

// GetPatronDebts implements pb.FeeServiceServer.
func (s *Service) GetPatronDebts(ctx context.Context, req *pb.GetPatronDebtsRequest) (*pb.GetPatronDebtsResponse, error) {
	var out *pb.Debts
	err := s.read(ctx, policy.ActionFeeRead, req.GetPatronId(), func() error {
		d, err := circulation.DebtsAt(ctx, s.db, req.GetPatronId(), s.clock.Now())
		out = protoconv.Debts(d)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.GetPatronDebtsResponse{Debts: out}, nil
}

// CreateNotice implements pb.FeeServiceServer. A library may remind a
// patron of its own loans and fees, so the check is loan.read (which an
// active loan there is enough for), not fee.read.
func (s *Service) CreateNotice(ctx context.Context, req *pb.CreateNoticeRequest) (*pb.CreateNoticeResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.LibraryID, req.GetRequestId(), "CreateNotice", req)
	var (
		n       circulation.Notice
		check   loanaccess.Check
		checked bool
	)
	now := s.clock.Now()
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		checked = false
		resultID, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		if check, err = s.guard.Decide(ctx, tx, p, policy.ActionLoanRead, req.GetPatronId()); err != nil {
			return err
		}
		checked = true
		if !check.Decision.Allow {
			return errDenied
		}
		if replay {
			if n, err = circulation.NoticeByID(ctx, tx, resultID); errors.Is(err, pgx.ErrNoRows) {
				return errEndedSince
			}
			return err
		}
		if n, err = circulation.CreateNotice(ctx, tx, req.GetPatronId(), p.LibraryID, protoconv.NoticeKindName(req.GetKind()), now); err != nil {
			return err
		}
		return r.Done(ctx, tx, n.ID)
	})
	if err := s.finish(ctx, p, err, checked, check); err != nil {
		return nil, err
	}
	return &pb.CreateNoticeResponse{Notice: protoconv.StaffNotice(n)}, nil
}

// homeStaff checks that the caller works at the patron's home library.
func (s *Service) homeStaff(ctx context.Context, patronID string) (identity.Principal, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return p, err
	}
	c, err := s.guard.Decide(ctx, s.db, p, policy.ActionLoanRead, patronID)
	if err != nil {
		return p, store.Status(err)
	}
	if c.Input.Resource.HomeLibraryID != p.LibraryID {
		return p, errHomeOnly
	}
	return p, nil
}

// SuspendPatron implements pb.FeeServiceServer.
func (s *Service) SuspendPatron(ctx context.Context, req *pb.SuspendPatronRequest) (*pb.SuspendPatronResponse, error) {
	p, err := s.homeStaff(ctx, req.GetPatronId())
	if err != nil {
		return nil, err
	}
	var until *time.Time
	if req.GetSuspendedUntil() != nil {
		t := req.GetSuspendedUntil().AsTime()
		until = &t
	}
	if err := circulation.Suspend(ctx, s.db, req.GetPatronId(), p.LibraryID, req.GetReason(), until, s.clock.Now()); err != nil {
		return nil, store.Status(err)
	}
	return &pb.SuspendPatronResponse{}, nil
}

// LiftSuspension implements pb.FeeServiceServer.
func (s *Service) LiftSuspension(ctx context.Context, req *pb.LiftSuspensionRequest) (*pb.LiftSuspensionResponse, error) {
	if _, err := s.homeStaff(ctx, req.GetPatronId()); err != nil {
		return nil, err
	}
	if err := circulation.LiftSuspension(ctx, s.db, req.GetPatronId()); err != nil {
		return nil, store.Status(err)
	}
	return &pb.LiftSuspensionResponse{}, nil
}
