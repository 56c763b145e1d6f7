package registration

import (
	"context"
	"fmt"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/consent"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/ratelimit"
	"github.com/patronfed/patronfed/requestid"
	"github.com/patronfed/patronfed/selfreg"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// PublicMethods need no token.
var PublicMethods = []string{pb.RegistrationService_SubmitRegistration_FullMethodName}

// Limit is how many requests one client address may submit per Per.
const (
	Limit = 5
	Per   = time.Hour
)

// Service implements pb.RegistrationServiceServer.
type Service struct {
	pb.UnimplementedRegistrationServiceServer
	db      *pgxpool.Pool
	kr      *pii.Keyring
	guard   *access.Guard
	clock   clock.Clock
	hash    auth.Params
	limiter *ratelimit.Limiter
}

// New returns the service; hash is the cost of new PIN hashes.
func New(db *pgxpool.Pool, kr *pii.Keyring, guard *access.Guard, clk clock.Clock, hash auth.Params) *Service {
	return &Service{db: db, kr: kr, guard: guard, clock: clk, hash: hash, limiter: ratelimit.New(Limit, Per, clk)}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterRegistrationServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterRegistrationServiceHandler(ctx, mux, conn)
}

// SubmitRegistration implements pb.RegistrationServiceServer.
func (s *Service) SubmitRegistration(ctx context.Context, req *pb.SubmitRegistrationRequest) (*pb.SubmitRegistrationResponse, error) {
	if ok, wait := s.limiter.Allow(identity.ClientIP(ctx)); !ok {
		st := status.New(codes.ResourceExhausted, fmt.Sprintf("too many registration requests from your address; retry in %s", wait))
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
			st = d
		}
		return nil, st.Err()
	}
	r, err := selfreg.Submit(ctx, s.db, req.GetLibraryCode(), selfreg.Request{
		FirstName: req.GetFirstName(), LastName: req.GetLastName(), Address: req.GetAddress(),
		Phone: req.GetPhone(), Email: req.GetEmail(), Username: req.GetUsername(),
	}, s.clock.Now())
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	return &pb.SubmitRegistrationResponse{RegistrationId: r.ID, ExpireTime: protoconv.Time(r.ExpiresAt)}, nil
}

// ListRegistrations implements pb.RegistrationServiceServer.
func (s *Service) ListRegistrations(ctx context.Context, req *pb.ListRegistrationsRequest) (*pb.ListRegistrationsResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronWrite)
	if err != nil {
		return nil, err
	}
	limit, offset, err := protoconv.Page(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	rs, err := selfreg.Pending(ctx, s.db, p.LibraryID, limit, offset)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	out := &pb.ListRegistrationsResponse{NextPageToken: protoconv.NextPageToken(offset, limit, len(rs))}
	for _, r := range rs {
		out.Registrations = append(out.Registrations, &pb.Registration{
			Id: r.ID, LibraryId: r.LibraryID, FirstName: r.FirstName, LastName: r.LastName, Address: r.Address,
			Phone: r.Phone, Email: r.Email, Username: r.Username,
			RequestTime: protoconv.Time(r.RequestedAt), ExpireTime: protoconv.Time(r.ExpiresAt),
		})
	}
	return out, nil
}

// CompleteRegistration implements pb.RegistrationServiceServer.
func (s *Service) CompleteRegistration(ctx context.Context, req *pb.CompleteRegistrationRequest) (*pb.CompleteRegistrationResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronWrite)
	if err != nil {
		return nil, err
	}
	consentGiven := req.GetOptionalDataConsent()
	d := s.guard.DecideFor(ctx, p, policy.ActionPatronUpdate, policy.Resource{HomeLibraryID: p.LibraryID, OptionalDataConsent: consentGiven})
	if !d.Allow {
		if err := s.guard.Record(ctx, s.guard.Entry(ctx, p, d)); err != nil {
			return nil, err
		}
		return nil, access.Denied()
	}
	var pinHash string
	if pin := req.GetPin(); pin != "" {
		if pinHash, err = auth.HashSecret(pin, s.hash); err != nil {
			return nil, status.Error(codes.Internal, "internal error")
		}
	}
	now := s.clock.Now()
	var id string
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		r, err := selfreg.Lock(ctx, tx, req.GetRegistrationId(), p.LibraryID)
		if err != nil {
			return err
		}
		settings, err := patron.LoadSettings(ctx, tx, p.LibraryID, "registration_id")
		if err != nil {
			return err
		}
		f := patron.Fields{FirstName: r.FirstName, LastName: r.LastName, BirthDate: req.GetBirthDate(),
			PermanentAddress: r.Address, Category: req.GetCategory()}
		// Optional contact data is kept only with consent, and only what
		// the library collects; the rest of the request is dropped.
		if consentGiven && settings.CollectEmail {
			f.Email = r.Email
		}
		if consentGiven && settings.CollectPhone {
			f.Phone = r.Phone
		}
		if g := req.GetGuardian(); g != nil {
			f.Guardian = &patron.Guardian{Name: g.GetName(), Address: g.GetAddress(), Phone: g.GetPhone(), Email: g.GetEmail()}
		}
		if err := patron.Check(&f, consentGiven, settings, now, "registration"); err != nil {
			return err
		}
		id, err = patron.Register(ctx, tx, s.kr, &patron.Registration{
			Fields: f, HomeLibraryID: p.LibraryID, CardNumber: req.GetCardNumber(), PINHash: pinHash,
			OptionalDataConsent: consentGiven, At: now,
		})
		if err != nil {
			return err
		}
		if consentGiven {
			c := consent.Change{PatronID: id, Scope: consent.ScopeOptionalData, Grant: true}
			a := consent.Actor{Kind: "staff", ID: p.ID, LibraryID: p.LibraryID, Method: consent.MethodInPerson, RequestID: requestid.From(ctx)}
			if err := consent.LogEvent(ctx, tx, c, a, now); err != nil {
				return err
			}
		}
		return selfreg.Complete(ctx, tx, r.ID, id, p.ID, now)
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	d.Input.Resource.PatronID = id
	e := s.guard.Entry(ctx, p, d)
	e.Fields = nil // nothing of the record is returned
	if err := s.guard.Record(ctx, e); err != nil {
		return nil, err
	}
	return &pb.CompleteRegistrationResponse{PatronId: id}, nil
}

// RejectRegistration implements pb.RegistrationServiceServer.
func (s *Service) RejectRegistration(ctx context.Context, req *pb.RejectRegistrationRequest) (*pb.RejectRegistrationResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronWrite)
	if err != nil {
		return nil, err
	}
	if err := selfreg.Reject(ctx, s.db, req.GetRegistrationId(), p.LibraryID); err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	return &pb.RejectRegistrationResponse{}, nil
}
