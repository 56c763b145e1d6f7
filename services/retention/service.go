package retention

import (
	"context"
	"slices"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.RetentionServiceServer.
type Service struct {
	pb.UnimplementedRetentionServiceServer
	db    *pgxpool.Pool
	guard *access.Guard
	clock clock.Clock
}

// New returns the service.
func New(db *pgxpool.Pool, guard *access.Guard, clk clock.Clock) *Service {
	return &Service{db: db, guard: guard, clock: clk}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterRetentionServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterRetentionServiceHandler(ctx, mux, conn)
}

var errAnonymised = status.Error(codes.FailedPrecondition,
	"the account has been anonymised and cannot be restored: register the patron again")

// RestorePatron implements pb.RetentionServiceServer. The policy decides
// with patron.read, the one action it still allows on an archived record
// (to its home library); the handler requires the home library and
// patron.write on top.
func (s *Service) RestorePatron(ctx context.Context, req *pb.RestorePatronRequest) (*pb.RestorePatronResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronWrite)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var d access.Decision
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := patron.Lock(ctx, tx, req.GetPatronId()); err != nil {
			if status.Code(err) == codes.NotFound {
				d = s.guard.DecideFor(ctx, p, policy.ActionPatronRead, policy.Resource{PatronID: req.GetPatronId()})
				d.Allow, d.Fields = false, nil
				return nil
			}
			return err
		}
		res, err := patron.LoadResource(ctx, tx, req.GetPatronId())
		if err != nil {
			return err
		}
		d = s.guard.DecideFor(ctx, p, policy.ActionPatronRead, res)
		if d.Allow && res.HomeLibraryID != p.LibraryID {
			d.Allow, d.Fields = false, nil
			d.Reasons = append(slices.Clone(d.Reasons), "only the patron's home library restores an archived account")
		}
		if !d.Allow {
			return nil
		}
		var anonymised bool
		if err := tx.QueryRow(ctx, `SELECT anonymised_at IS NOT NULL FROM patrons WHERE id = $1`, req.GetPatronId()).Scan(&anonymised); err != nil {
			return err
		}
		if anonymised {
			return errAnonymised
		}
		// The patron is here: that is a visit, so the account does not go
		// straight back to the archive at the next run.
		_, err = tx.Exec(ctx, `UPDATE patrons SET archived_at = NULL, last_activity_at = greatest(last_activity_at, $2),
			version = version + 1, updated_at = $2 WHERE id = $1`, req.GetPatronId(), now)
		return err
	})
	if err != nil && err != errAnonymised {
		return nil, store.StatusContext(ctx, err)
	}
	e := s.guard.Entry(ctx, p, d)
	e.Fields = nil // nothing of the record is returned
	e.Reasons = append(slices.Clone(e.Reasons), "retention: restore an archived account")
	if rerr := s.guard.Record(ctx, e); rerr != nil {
		return nil, rerr
	}
	if !d.Allow {
		return nil, access.Denied()
	}
	if err != nil {
		return nil, err
	}
	return &pb.RestorePatronResponse{PatronId: req.GetPatronId(), RestoreTime: protoconv.Time(now)}, nil
}
