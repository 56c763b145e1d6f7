package events

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
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.EventSignupServiceServer.
type Service struct {
	pb.UnimplementedEventSignupServiceServer
	db    *pgxpool.Pool
	clock clock.Clock
}

// New returns the service.
func New(db *pgxpool.Pool, clk clock.Clock) *Service { return &Service{db: db, clock: clk} }

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterEventSignupServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterEventSignupServiceHandler(ctx, mux, conn)
}

// signupCols read a sign-up e with its library's settings s; the expiry is
// the day retention deletes it (retention step event_signups).
const signupCols = `e.id::text, e.event_name, to_char(e.event_date, 'YYYY-MM-DD'), e.name, e.contact, e.created_at,
	(e.event_date + make_interval(months => s.event_signup_retention_months))::timestamp AT TIME ZONE 'UTC'`

func scanSignup(row pgx.Row) (*pb.EventSignup, error) {
	var (
		e               pb.EventSignup
		created, expire time.Time
	)
	if err := row.Scan(&e.Id, &e.EventName, &e.EventDate, &e.Name, &e.Contact, &created, &expire); err != nil {
		return nil, err
	}
	e.CreateTime, e.ExpireTime = protoconv.Time(created), protoconv.Time(expire)
	return &e, nil
}

// RecordEventSignup implements pb.EventSignupServiceServer.
func (s *Service) RecordEventSignup(ctx context.Context, req *pb.RecordEventSignupRequest) (*pb.RecordEventSignupResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronWrite)
	if err != nil {
		return nil, err
	}
	if _, err := time.Parse(time.DateOnly, req.GetEventDate()); err != nil {
		return nil, store.InvalidField("event_date", "not a date")
	}
	r := circulation.NewRequest(p.LibraryID, req.GetRequestId(), "RecordEventSignup", req)
	now := s.clock.Now()
	var out *pb.EventSignup
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		resultID, replay, err := r.Claim(ctx, tx, now)
		if err != nil {
			return err
		}
		id := resultID
		if !replay {
			if err := tx.QueryRow(ctx, `INSERT INTO event_signups (library_id, event_name, event_date, name, contact, created_at)
				VALUES ($1, $2, $3::date, $4, $5, $6) RETURNING id::text`,
				p.LibraryID, req.GetEventName(), req.GetEventDate(), req.GetName(), req.GetContact(), now).Scan(&id); err != nil {
				return err
			}
			if err := r.Done(ctx, tx, id); err != nil {
				return err
			}
		}
		out, err = scanSignup(tx.QueryRow(ctx, `SELECT `+signupCols+`
			FROM event_signups e JOIN library_settings s ON s.library_id = e.library_id WHERE e.id = $1`, id))
		if replay && errors.Is(err, pgx.ErrNoRows) {
			return status.Error(codes.FailedPrecondition, "this request was completed earlier and the sign-up has since been deleted")
		}
		return err
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	return &pb.RecordEventSignupResponse{Signup: out}, nil
}

// ListEventSignups implements pb.EventSignupServiceServer.
func (s *Service) ListEventSignups(ctx context.Context, req *pb.ListEventSignupsRequest) (*pb.ListEventSignupsResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronWrite)
	if err != nil {
		return nil, err
	}
	if d := req.GetEventDate(); d != "" {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return nil, store.InvalidField("event_date", "not a date")
		}
	}
	limit, offset, err := protoconv.Page(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+signupCols+`
		FROM event_signups e JOIN library_settings s ON s.library_id = e.library_id
		WHERE e.library_id = $1 AND ($2 = '' OR e.event_date = nullif($2, '')::date)
		ORDER BY e.event_date, e.event_name, e.created_at, e.id LIMIT $3 OFFSET $4`,
		p.LibraryID, req.GetEventDate(), limit, offset)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	signups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*pb.EventSignup, error) { return scanSignup(r) })
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	return &pb.ListEventSignupsResponse{Signups: signups, NextPageToken: protoconv.NextPageToken(offset, limit, len(signups))}, nil
}

// DeleteEventSignup implements pb.EventSignupServiceServer. Another
// library's sign-up is NOT_FOUND.
func (s *Service) DeleteEventSignup(ctx context.Context, req *pb.DeleteEventSignupRequest) (*pb.DeleteEventSignupResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronWrite)
	if err != nil {
		return nil, err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM event_signups WHERE id = $1 AND library_id = $2`, req.GetSignupId(), p.LibraryID)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, status.Error(codes.NotFound, "no sign-up with this id at your library")
	}
	return &pb.DeleteEventSignupResponse{}, nil
}
