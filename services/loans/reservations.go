package loans

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/circulation"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/services/loanaccess"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// PlaceReservation implements pb.LoanServiceServer: a hold on an item or
// on a title (record_id), in one path: placing either needs the same right
// to see the patron as a checkout (policy action loan.checkout), audited
// the same way.
func (s *Service) PlaceReservation(ctx context.Context, req *pb.PlaceReservationRequest) (*pb.PlaceReservationResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	r := circulation.NewRequest(p.LibraryID, req.GetRequestId(), "PlaceReservation", req)
	var (
		res     circulation.Reservation
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
			if res, err = circulation.ActiveReservation(ctx, tx, resultID); err != nil {
				return endedSince(err)
			}
			patronID, action = res.PatronID, policy.ActionLoanRead
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
			var expires time.Time // zero: the default period
			if req.GetExpireTime() != nil {
				expires = req.GetExpireTime().AsTime()
			}
			if rec := req.GetRecordId(); rec != "" {
				res, err = circulation.PlaceRecordReservation(ctx, tx, patronID, p.LibraryID, rec, expires, now)
			} else {
				res, err = circulation.PlaceReservation(ctx, tx, patronID, p.LibraryID, req.GetItemBarcode(), expires, now)
			}
			if err != nil {
				return err
			}
			if err := patron.Touch(ctx, tx, patronID, now); err != nil {
				return err
			}
			if err := r.Done(ctx, tx, res.ID); err != nil {
				return err
			}
		}
		who, err = loanaccess.Contact(ctx, tx, patronID, check.Decision)
		return err
	})
	if err := s.finish(ctx, p, err, checked, check); err != nil {
		return nil, err
	}
	return &pb.PlaceReservationResponse{Reservation: protoconv.Reservation(res, who)}, nil
}

// CancelReservation implements pb.LoanServiceServer: staff of the pickup
// library. The reservation becomes history; nothing of it is returned.
func (s *Service) CancelReservation(ctx context.Context, req *pb.CancelReservationRequest) (*pb.CancelReservationResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	if err := circulation.CancelReservation(ctx, s.db, req.GetReservationId(), p.LibraryID, "", s.clock.Now()); err != nil {
		return nil, store.Status(err)
	}
	return &pb.CancelReservationResponse{}, nil
}

// ExpireReservations implements pb.LoanServiceServer. The answer names no
// patron, so there is nothing to decide or audit.
func (s *Service) ExpireReservations(ctx context.Context, _ *pb.ExpireReservationsRequest) (*pb.ExpireReservationsResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	var e circulation.Expiry
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		e, err = circulation.ExpireReservations(ctx, tx, p.LibraryID, s.clock.Now())
		return err
	})
	if err != nil {
		return nil, store.Status(err)
	}
	out := &pb.ExpireReservationsResponse{ExpiredCount: int32(e.Count)}
	for _, it := range e.ToClear {
		out.ShelfToClear = append(out.ShelfToClear, protoconv.Item(it))
	}
	return out, nil
}

// ListHoldShelf implements pb.LoanServiceServer.
func (s *Service) ListHoldShelf(ctx context.Context, req *pb.ListHoldShelfRequest) (*pb.ListHoldShelfResponse, error) {
	p, limit, offset, err := staffPage(ctx, req.GetLibraryId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	rs, err := circulation.HoldShelf(ctx, s.db, p.LibraryID, req.GetUnnotifiedOnly(), limit, offset)
	if err != nil {
		return nil, store.Status(err)
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.PatronID
	}
	who, err := s.listedPatrons(ctx, p, ids)
	if err != nil {
		return nil, err
	}
	out := &pb.ListHoldShelfResponse{NextPageToken: protoconv.NextPageToken(offset, limit, len(rs))}
	for _, r := range rs {
		out.Reservations = append(out.Reservations, protoconv.Reservation(r, who[r.PatronID]))
	}
	return out, nil
}

// MarkPickupNotified implements pb.LoanServiceServer. It names no patron,
// so there is nothing to decide or audit.
func (s *Service) MarkPickupNotified(ctx context.Context, req *pb.MarkPickupNotifiedRequest) (*pb.MarkPickupNotifiedResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermLoanManage)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return circulation.MarkNotified(ctx, tx, p.LibraryID, req.GetReservationIds(), now)
	})
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.MarkPickupNotifiedResponse{}, nil
}

// ListPatronReservations implements pb.LoanServiceServer.
func (s *Service) ListPatronReservations(ctx context.Context, req *pb.ListPatronReservationsRequest) (*pb.ListPatronReservationsResponse, error) {
	p, err := identity.Require(ctx, identity.KindStaff)
	if err != nil {
		return nil, err
	}
	var out []*pb.Reservation
	err = s.readPatron(ctx, p, req.GetPatronId(), func(c loanaccess.Check, who *pb.LoanPatron) error {
		rs, err := circulation.ActiveReservationsOfPatron(ctx, s.db, req.GetPatronId(), ownUnlessSeen(c, p))
		for _, r := range rs {
			out = append(out, protoconv.Reservation(r, who))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.ListPatronReservationsResponse{Reservations: out}, nil
}
