package rights

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/rights"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.PatronRightsServiceServer.
type Service struct {
	pb.UnimplementedPatronRightsServiceServer
	db    *pgxpool.Pool
	kr    *pii.Keyring
	guard *access.Guard
	clock clock.Clock
	// changed is called with a patron's id after an erasure commits.
	changed func(patronID string)
}

// New returns the service.
//
// changed (may be nil) is called with the patron's id after an erasure
// commits, so that this replica forgets the patron's cached principal at
// once and the erased patron's token stops working with the next call;
// other replicas learn it from the database's notification.
func New(db *pgxpool.Pool, kr *pii.Keyring, guard *access.Guard, clk clock.Clock, changed func(patronID string)) *Service {
	if changed == nil {
		changed = func(string) {}
	}
	return &Service{db: db, kr: kr, guard: guard, clock: clk, changed: changed}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterPatronRightsServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterPatronRightsServiceHandler(ctx, mux, conn)
}

var snapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// staffPerm is the permission staff need per kind of request: reading the
// record for an extract, writing it for an erasure.
var staffPerm = map[string]string{rights.KindAccess: identity.PermPatronRead, rights.KindErasure: identity.PermPatronWrite}

func actorOf(p identity.Principal) rights.Actor {
	if p.Kind == identity.KindPatron {
		return rights.Actor{Kind: rights.ActorPatron}
	}
	return rights.Actor{Kind: rights.ActorStaff, ID: p.ID}
}

// staffDecision decides a staff member acting for patronID: a patron.read
// decision (which archived patrons still allow to their home library),
// and the home library only (rights are the home library's to answer).
// The decision is returned for the audit log; ok is false on a denial.
func (s *Service) staffDecision(ctx context.Context, q patron.Querier, p identity.Principal, patronID string) (access.Decision, bool, error) {
	res, err := patron.LoadResource(ctx, q, patronID)
	exists := status.Code(err) != codes.NotFound
	if exists && err != nil {
		return access.Decision{}, false, err
	}
	if !exists {
		res = policy.Resource{PatronID: patronID}
	}
	d := s.guard.DecideFor(ctx, p, policy.ActionPatronRead, res)
	if d.Allow && (!exists || res.HomeLibraryID != p.LibraryID) {
		d.Allow, d.Fields = false, nil
		d.Reasons = append(slices.Clone(d.Reasons), "only the patron's home library answers access and erasure requests")
	}
	return d, d.Allow, nil
}

// recordStaff audits a staff decision on a patron's rights; fields are the
// groups actually returned (none for requests and erasures).
func (s *Service) recordStaff(ctx context.Context, p identity.Principal, ds []access.Decision, fields [][]string, note string) error {
	var es []audit.Entry
	for i, d := range ds {
		e := s.guard.Entry(ctx, p, d)
		e.Fields = nil
		if d.Allow && fields != nil {
			e.Fields = fields[i]
		}
		if note != "" {
			e.Reasons = append(slices.Clone(e.Reasons), note)
		}
		es = append(es, e)
	}
	return s.guard.Record(ctx, es...)
}

func required(field string) error {
	st := status.New(codes.InvalidArgument, "invalid "+field+": required for staff")
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: field, Description: "required for staff"}}}); err == nil {
		st = d
	}
	return st.Err()
}

// CreateRightsRequest implements pb.PatronRightsServiceServer.
func (s *Service) CreateRightsRequest(ctx context.Context, req *pb.CreateRightsRequestRequest) (*pb.CreateRightsRequestResponse, error) {
	p, err := identity.Require(ctx, identity.KindPatron, identity.KindStaff)
	if err != nil {
		return nil, err
	}
	kind := kindOf(req.GetKind())
	now := s.clock.Now()
	patronID := req.GetPatronId()
	if p.Kind == identity.KindPatron {
		// A patron asks for themselves only; naming anyone else is the
		// same denial as any access to another patron.
		if patronID != "" && patronID != p.ID {
			return nil, access.Denied()
		}
		var r rights.Request
		err := store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
			r, err = rights.Create(ctx, tx, p.ID, kind, actorOf(p), now)
			return err
		})
		if err != nil {
			return nil, store.StatusContext(ctx, err)
		}
		return &pb.CreateRightsRequestResponse{Request: requestToProto(&r, now)}, nil
	}
	if _, err := identity.RequireStaff(ctx, staffPerm[kind]); err != nil {
		return nil, err
	}
	if patronID == "" {
		return nil, required("patron_id")
	}
	var (
		d  access.Decision
		ok bool
		r  rights.Request
	)
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if d, ok, err = s.staffDecision(ctx, tx, p, patronID); err != nil || !ok {
			return err
		}
		r, err = rights.Create(ctx, tx, patronID, kind, actorOf(p), now)
		return err
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	if err := s.recordStaff(ctx, p, []access.Decision{d}, nil, "rights: "+kind+" request recorded"); err != nil {
		return nil, err
	}
	if !ok {
		return nil, access.Denied()
	}
	return &pb.CreateRightsRequestResponse{Request: requestToProto(&r, now)}, nil
}

// ListRightsRequests implements pb.PatronRightsServiceServer.
func (s *Service) ListRightsRequests(ctx context.Context, req *pb.ListRightsRequestsRequest) (*pb.ListRightsRequestsResponse, error) {
	p, err := identity.Require(ctx, identity.KindPatron, identity.KindStaff)
	if err != nil {
		return nil, err
	}
	limit, offset, err := protoconv.Page(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	f := rights.Filter{PendingOnly: req.GetPendingOnly(), OverdueOnly: req.GetOverdueOnly(), Now: now, Limit: limit, Offset: offset}
	if p.Kind == identity.KindPatron {
		f.PatronID = p.ID
	} else {
		if _, err := identity.RequireStaff(ctx, identity.PermPatronRead); err != nil {
			return nil, err
		}
		f.LibraryID = p.LibraryID
	}
	rs, err := rights.List(ctx, s.db, f)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	out := &pb.ListRightsRequestsResponse{NextPageToken: protoconv.NextPageToken(offset, limit, len(rs))}
	for i := range rs {
		out.Requests = append(out.Requests, requestToProto(&rs[i], now))
	}
	return out, nil
}

// request loads a request the caller may act on: the patron's own, or one
// of a patron of the staff member's library (with perm). Anything else
// is NotFound, whether or not it exists.
func (s *Service) request(ctx context.Context, id string) (identity.Principal, rights.Request, error) {
	p, err := identity.Require(ctx, identity.KindPatron, identity.KindStaff)
	if err != nil {
		return p, rights.Request{}, err
	}
	r, err := rights.Get(ctx, s.db, id, false)
	if err != nil {
		return p, r, store.StatusContext(ctx, err)
	}
	if p.Kind == identity.KindPatron && r.PatronID != p.ID {
		return p, r, rights.ErrNotFound
	}
	if p.Kind == identity.KindStaff {
		if _, err := identity.RequireStaff(ctx, staffPerm[r.Kind]); err != nil {
			return p, r, err
		}
		var home string
		if err := s.db.QueryRow(ctx, `SELECT home_library_id::text FROM patrons WHERE id = $1`, r.PatronID).Scan(&home); err != nil {
			return p, r, store.StatusContext(ctx, err)
		}
		if home != p.LibraryID {
			return p, r, rights.ErrNotFound
		}
	}
	return p, r, nil
}

// DeliverDataExtract implements pb.PatronRightsServiceServer.
func (s *Service) DeliverDataExtract(ctx context.Context, req *pb.DeliverDataExtractRequest) (*pb.DeliverDataExtractResponse, error) {
	p, r, err := s.request(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if r.Kind != rights.KindAccess {
		return nil, status.Error(codes.FailedPrecondition, "not an access request")
	}
	now := s.clock.Now()
	self := p.Kind == identity.KindPatron
	var (
		x     *rights.Extract
		ds    []access.Decision
		scope = rights.Scope{Self: self}
	)
	// One snapshot: the extract is consistent, and the decisions are
	// made on the state it shows.
	err = store.InTx(ctx, s.db, snapshot, func(tx pgx.Tx) error {
		if !self {
			read, ok, err := s.staffDecision(ctx, tx, p, r.PatronID)
			if err != nil {
				return err
			}
			ds = []access.Decision{read}
			if !ok {
				return nil
			}
			res := read.Input.Resource
			loans := s.guard.DecideFor(ctx, p, policy.ActionLoanRead, res)
			fees := s.guard.DecideFor(ctx, p, policy.ActionFeeRead, res)
			ds = append(ds, loans, fees)
			scope = rights.Scope{Fields: read.Fields, Loans: loans.Allow, Fees: fees.Allow}
		}
		x, err = rights.Build(ctx, tx, s.kr, r.PatronID, scope, now)
		return err
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	if !self {
		// Audit before answering: the read fields of the record, and the
		// loans and fees read.
		fields := [][]string{ds[0].Fields, nil, nil}
		if err := s.recordStaff(ctx, p, ds, fields, "rights: data extract for access request "+r.ID); err != nil {
			return nil, err
		}
		if !ds[0].Allow {
			return nil, access.Denied()
		}
	}
	doc, err := toStruct(x)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	if r.Status == rights.StatusPending {
		err := store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
			closed, err := rights.Close(ctx, tx, r.ID, rights.StatusFulfilled, actorOf(p), nil, now)
			if err == nil {
				r = closed
			}
			if err == rights.ErrNotFound { // delivered meanwhile by someone else
				return nil
			}
			return err
		})
		if err != nil {
			return nil, store.StatusContext(ctx, err)
		}
	}
	return &pb.DeliverDataExtractResponse{Request: requestToProto(&r, now), Extract: doc}, nil
}

// toStruct turns the extract into a protobuf Struct through its JSON, so
// the gateway answers exactly the documented JSON layout.
func toStruct(x *rights.Extract) (*structpb.Struct, error) {
	raw, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return structpb.NewStruct(m)
}

// ErasePatronData implements pb.PatronRightsServiceServer.
func (s *Service) ErasePatronData(ctx context.Context, req *pb.ErasePatronDataRequest) (*pb.ErasePatronDataResponse, error) {
	p, r, err := s.request(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if r.Kind != rights.KindErasure {
		return nil, status.Error(codes.FailedPrecondition, "not an erasure request")
	}
	now := s.clock.Now()
	self := p.Kind == identity.KindPatron
	var (
		d       access.Decision
		ok      = self
		c       *rights.Confirmation
		refusal error
	)
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		refusal, c = nil, nil
		if !self {
			if d, ok, err = s.staffDecision(ctx, tx, p, r.PatronID); err != nil || !ok {
				return err
			}
		}
		locked, err := rights.Get(ctx, tx, r.ID, true)
		if err != nil {
			return err
		}
		erased, conf, debts, err := rights.Erase(ctx, tx, locked, actorOf(p), now)
		if err != nil {
			return err
		}
		r, c = erased, conf
		if debts.Any() {
			refusal = rights.RefusalError(debts) // the refusal itself is committed
		}
		return nil
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	s.changed(r.PatronID)
	if !self {
		if err := s.recordStaff(ctx, p, []access.Decision{d}, nil, "rights: erasure of the record for request "+r.ID); err != nil {
			return nil, err
		}
		if !ok {
			return nil, access.Denied()
		}
	}
	if refusal != nil {
		return nil, refusal
	}
	return &pb.ErasePatronDataResponse{Request: requestToProto(&r, now), Confirmation: confirmationToProto(c)}, nil
}

// ListErasureConfirmations implements pb.PatronRightsServiceServer.
func (s *Service) ListErasureConfirmations(ctx context.Context, req *pb.ListErasureConfirmationsRequest) (*pb.ListErasureConfirmationsResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronRead)
	if err != nil {
		return nil, err
	}
	limit, offset, err := protoconv.Page(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	cs, err := rights.ListConfirmations(ctx, s.db, p.LibraryID, limit, offset)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	out := &pb.ListErasureConfirmationsResponse{NextPageToken: protoconv.NextPageToken(offset, limit, len(cs))}
	for i := range cs {
		out.Confirmations = append(out.Confirmations, confirmationToProto(&cs[i]))
	}
	return out, nil
}
