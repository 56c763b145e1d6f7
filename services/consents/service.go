package consents

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/consent"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/requestid"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.ConsentServiceServer.
type Service struct {
	pb.UnimplementedConsentServiceServer
	db    *pgxpool.Pool
	guard *access.Guard
	clock clock.Clock
}

// New returns the service.
func New(db *pgxpool.Pool, guard *access.Guard, clk clock.Clock) *Service {
	return &Service{db: db, guard: guard, clock: clk}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterConsentServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterConsentServiceHandler(ctx, mux, conn)
}

var snapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// target is whose consents a call is about, and whether the caller is that
// patron.
type target struct {
	p      identity.Principal
	patron string
	self   bool
}

// resolve works out the patron: a patron acts on themselves (patron_id
// empty or their own); staff and the operator must name one. A patron
// naming another patron is denied (and audited) like any other denied
// access to patron data.
func (s *Service) resolve(ctx context.Context, patronID, action string) (target, error) {
	p, err := identity.Require(ctx, identity.KindStaff, identity.KindOperator, identity.KindPatron)
	if err != nil {
		return target{}, err
	}
	if p.Kind == identity.KindPatron {
		if patronID == "" || patronID == p.ID {
			return target{p: p, patron: p.ID, self: true}, nil
		}
		d := s.guard.DecideFor(ctx, p, action, policy.Resource{PatronID: patronID})
		d.Allow, d.Fields = false, nil
		if err := s.guard.Record(ctx, s.guard.Entry(ctx, p, d)); err != nil {
			return target{}, err
		}
		return target{}, access.Denied()
	}
	if patronID == "" {
		st := status.New(codes.InvalidArgument, "invalid patron_id: required for staff")
		if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "patron_id", Description: "required for staff"}}}); err == nil {
			st = d
		}
		return target{}, st.Err()
	}
	return target{p: p, patron: patronID}, nil
}

// decide loads the patron in q and decides action for a staff (or
// operator) caller; a patron that does not exist is a denial.
func (s *Service) decide(ctx context.Context, q patron.Querier, t target, action string) (access.Decision, error) {
	res, err := patron.LoadResource(ctx, q, t.patron)
	exists := status.Code(err) != codes.NotFound
	if exists && err != nil {
		return access.Decision{}, err
	}
	if !exists {
		res = policy.Resource{PatronID: t.patron}
	}
	d := s.guard.DecideFor(ctx, t.p, action, res)
	if !exists {
		d.Allow, d.Fields = false, nil
		d.Reasons = append(slices.Clone(d.Reasons), "no such patron")
	}
	return d, nil
}

func scope(sc pb.ConsentScope) string {
	if sc == pb.ConsentScope_CONSENT_SCOPE_SHARE_WITH_LIBRARY {
		return consent.ScopeShare
	}
	return consent.ScopeOptionalData
}

// GrantConsent implements pb.ConsentServiceServer.
func (s *Service) GrantConsent(ctx context.Context, req *pb.GrantConsentRequest) (*pb.GrantConsentResponse, error) {
	c, err := s.change(ctx, req.GetPatronId(), consent.Change{Scope: scope(req.GetScope()), LibraryID: req.GetLibraryId(), Grant: true})
	if err != nil {
		return nil, err
	}
	return &pb.GrantConsentResponse{Consents: c}, nil
}

// WithdrawConsent implements pb.ConsentServiceServer.
func (s *Service) WithdrawConsent(ctx context.Context, req *pb.WithdrawConsentRequest) (*pb.WithdrawConsentResponse, error) {
	c, err := s.change(ctx, req.GetPatronId(), consent.Change{Scope: scope(req.GetScope()), LibraryID: req.GetLibraryId()})
	if err != nil {
		return nil, err
	}
	return &pb.WithdrawConsentResponse{Consents: c}, nil
}

// change applies c for the patron named (or the calling patron) and returns
// the consents in force afterwards.
func (s *Service) change(ctx context.Context, patronID string, c consent.Change) (*pb.Consents, error) {
	t, err := s.resolve(ctx, patronID, policy.ActionConsentWrite)
	if err != nil {
		return nil, err
	}
	c.PatronID = t.patron
	actor := consent.Actor{Kind: "patron", ID: t.p.ID, Method: consent.MethodWeb, RequestID: requestid.From(ctx)}
	if !t.self {
		actor = consent.Actor{Kind: "staff", ID: t.p.ID, LibraryID: t.p.LibraryID, Method: consent.MethodInPerson, RequestID: actor.RequestID}
	}
	now := s.clock.Now()
	var d access.Decision
	var st consent.State
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if !t.self {
			if d, err = s.decide(ctx, tx, t, policy.ActionConsentWrite); err != nil || !d.Allow {
				return err
			}
		}
		if _, err := consent.Apply(ctx, tx, c, actor, now); err != nil {
			return err
		}
		st, err = consent.Current(ctx, tx, t.patron)
		return err
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	if !t.self {
		if err := s.guard.Record(ctx, s.guard.Entry(ctx, t.p, d)); err != nil {
			return nil, err
		}
		if !d.Allow {
			return nil, access.Denied()
		}
	}
	return stateToProto(&st), nil
}

// readable decides a staff read of the consents: the patron must be
// readable with the service field group, where consents belong.
func (s *Service) readable(ctx context.Context, q patron.Querier, t target) (access.Decision, bool, error) {
	d, err := s.decide(ctx, q, t, policy.ActionPatronRead)
	if err != nil {
		return d, false, err
	}
	return d, d.Has(policy.FieldService), nil
}

// ListConsents implements pb.ConsentServiceServer.
func (s *Service) ListConsents(ctx context.Context, req *pb.ListConsentsRequest) (*pb.ListConsentsResponse, error) {
	t, err := s.resolve(ctx, req.GetPatronId(), policy.ActionPatronRead)
	if err != nil {
		return nil, err
	}
	var d access.Decision
	ok := t.self
	var st consent.State
	err = store.InTx(ctx, s.db, snapshot, func(tx pgx.Tx) error {
		if !t.self {
			if d, ok, err = s.readable(ctx, tx, t); err != nil || !ok {
				return err
			}
		}
		st, err = consent.Current(ctx, tx, t.patron)
		return err
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	if err := s.audit(ctx, t, d, ok); err != nil {
		return nil, err
	}
	return &pb.ListConsentsResponse{Consents: stateToProto(&st)}, nil
}

// audit records a staff read of consents (allowed with the service group,
// or denied) and returns the denial to answer; patrons reading their own
// are not audited.
func (s *Service) audit(ctx context.Context, t target, d access.Decision, ok bool) error {
	if t.self {
		return nil
	}
	e := s.guard.Entry(ctx, t.p, d)
	if d.Allow && !ok {
		e = s.guard.Refusal(ctx, t.p, d, "consents are service data; the decision does not return the service group")
	}
	if ok {
		e.Fields = []string{policy.FieldService}
	}
	if err := s.guard.Record(ctx, e); err != nil {
		return err
	}
	if !ok {
		return access.Denied()
	}
	return nil
}

const (
	defaultHistory = 100
)

// ListConsentHistory implements pb.ConsentServiceServer.
func (s *Service) ListConsentHistory(ctx context.Context, req *pb.ListConsentHistoryRequest) (*pb.ListConsentHistoryResponse, error) {
	t, err := s.resolve(ctx, req.GetPatronId(), policy.ActionPatronRead)
	if err != nil {
		return nil, err
	}
	before, err := parseToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetPageSize())
	if limit <= 0 {
		limit = defaultHistory
	}
	var d access.Decision
	ok := t.self
	var evs []consent.Event
	err = store.InTx(ctx, s.db, snapshot, func(tx pgx.Tx) error {
		if !t.self {
			if d, ok, err = s.readable(ctx, tx, t); err != nil || !ok {
				return err
			}
		}
		evs, err = consent.History(ctx, tx, t.patron, limit+1, before)
		return err
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	if err := s.audit(ctx, t, d, ok); err != nil {
		return nil, err
	}
	resp := &pb.ListConsentHistoryResponse{}
	if len(evs) > limit {
		evs = evs[:limit]
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(evs[limit-1].ID, 10)))
	}
	for _, e := range evs {
		resp.Events = append(resp.Events, eventToProto(&e, !t.self))
	}
	return resp, nil
}

func parseToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	n, perr := strconv.ParseInt(string(b), 10, 64)
	if err != nil || perr != nil || n <= 0 {
		return 0, status.Error(codes.InvalidArgument, "invalid page_token")
	}
	return n, nil
}

func method(m string) pb.ConsentMethod {
	if m == consent.MethodWeb {
		return pb.ConsentMethod_CONSENT_METHOD_WEB
	}
	return pb.ConsentMethod_CONSENT_METHOD_IN_PERSON
}

func stateToProto(st *consent.State) *pb.Consents {
	out := &pb.Consents{PatronId: st.PatronID, OptionalData: st.OptionalData, OptionalDataGrantTime: protoconv.TimePtr(st.OptionalDataSince)}
	for _, l := range st.Libraries {
		out.Libraries = append(out.Libraries, &pb.LibraryConsent{LibraryId: l.LibraryID, GrantTime: protoconv.Time(l.GrantedAt), Method: method(l.Method)})
	}
	return out
}

// eventToProto renders a change; the staff account is shown to staff only.
func eventToProto(e *consent.Event, staff bool) *pb.ConsentEvent {
	out := &pb.ConsentEvent{Id: e.ID, Time: protoconv.Time(e.At), LibraryId: e.LibraryID, Method: method(e.Method),
		Scope: pb.ConsentScope_CONSENT_SCOPE_OPTIONAL_DATA, Change: pb.ConsentChange_CONSENT_CHANGE_WITHDRAW,
		ActorKind: pb.ConsentActorKind_CONSENT_ACTOR_KIND_PATRON}
	if e.Scope == consent.ScopeShare {
		out.Scope = pb.ConsentScope_CONSENT_SCOPE_SHARE_WITH_LIBRARY
	}
	if e.Granted {
		out.Change = pb.ConsentChange_CONSENT_CHANGE_GRANT
	}
	if e.ActorKind == "staff" {
		out.ActorKind = pb.ConsentActorKind_CONSENT_ACTOR_KIND_STAFF
		out.ActorLibraryId = e.ActorLibraryID
		if staff {
			out.ActorAccountId = e.ActorID
		}
	}
	return out
}
