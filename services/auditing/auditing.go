package auditing

import (
	"context"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/auditquery"
	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/services/pagetoken"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.AuditServiceServer.
type Service struct {
	pb.UnimplementedAuditServiceServer
	db    *pgxpool.Pool
	clock clock.Clock
}

// New returns the service.
func New(db *pgxpool.Pool, clk clock.Clock) *Service { return &Service{db: db, clock: clk} }

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterAuditServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterAuditServiceHandler(ctx, mux, conn)
}

func ts(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// ListAuditEntries implements pb.AuditServiceServer.
func (s *Service) ListAuditEntries(ctx context.Context, req *pb.ListAuditEntriesRequest) (*pb.ListAuditEntriesResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	before, err := pagetoken.ParseInt(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	f := auditquery.Filter{
		ActorID: req.GetActorId(), ActorLibraryID: req.GetLibraryId(), PatronID: req.GetPatronId(),
		TokenID: req.GetTokenId(), Action: req.GetAction(), From: ts(req.GetStartTime()), To: ts(req.GetEndTime()),
	}
	switch req.GetDecision() {
	case pb.AuditDecision_AUDIT_DECISION_ALLOWED:
		yes := true
		f.Allowed = &yes
	case pb.AuditDecision_AUDIT_DECISION_DENIED:
		no := false
		f.Allowed = &no
	}
	size := pagetoken.Size(req.GetPageSize(), 100)
	entries, err := auditquery.List(ctx, s.db, f, before, size+1)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp := &pb.ListAuditEntriesResponse{}
	if len(entries) > size {
		entries = entries[:size]
		resp.NextPageToken = pagetoken.Int(entries[size-1].Seq)
	}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, &pb.AuditEntry{
			Seq: e.Seq, Time: protoconv.Time(e.At), RequestId: e.RequestID, ActorKind: e.ActorKind, ActorId: e.ActorID,
			ActorLibraryId: e.ActorLibraryID, ActorRoles: e.ActorRoles, TokenId: e.TokenID, Action: e.Action,
			PatronId: e.PatronID, Allowed: e.Allowed, Reasons: e.Reasons, Fields: e.Fields, PolicyVersion: e.PolicyVersion,
		})
	}
	return resp, nil
}

func breachFilter(f *pb.BreachFilter) auditquery.BreachFilter {
	return auditquery.BreachFilter{
		ActorID: f.GetActorId(), LibraryID: f.GetLibraryId(), TokenID: f.GetTokenId(),
		From: ts(f.GetStartTime()), To: ts(f.GetEndTime()),
	}
}

// page reads one page of patrons and the token of the next.
func (s *Service) page(ctx context.Context, f auditquery.BreachFilter, token string, size int) ([]auditquery.Patron, string, error) {
	after, err := pagetoken.ParseString(token)
	if err != nil {
		return nil, "", err
	}
	ps, err := auditquery.Patrons(ctx, s.db, f, after, size+1)
	if err != nil {
		return nil, "", store.StatusContext(ctx, err)
	}
	next := ""
	if len(ps) > size {
		ps = ps[:size]
		next = pagetoken.String(ps[size-1].PatronID)
	}
	return ps, next, nil
}

// GetBreachScope implements pb.AuditServiceServer.
func (s *Service) GetBreachScope(ctx context.Context, req *pb.GetBreachScopeRequest) (*pb.GetBreachScopeResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	f := breachFilter(req.GetFilter())
	ps, next, err := s.page(ctx, f, req.GetPageToken(), pagetoken.Size(req.GetPageSize(), 100))
	if err != nil {
		return nil, err
	}
	resp := &pb.GetBreachScopeResponse{NextPageToken: next}
	if req.GetPageToken() == "" {
		sum, err := auditquery.Summarize(ctx, s.db, f)
		if err != nil {
			return nil, store.StatusContext(ctx, err)
		}
		resp.Summary = &pb.BreachSummary{
			Reads: sum.Reads, Patrons: sum.Patrons, Fields: fieldsToProto(sum.Fields),
			FirstReadTime: protoconv.Time(sum.First), LastReadTime: protoconv.Time(sum.Last),
		}
	}
	for _, p := range ps {
		resp.Patrons = append(resp.Patrons, &pb.BreachPatron{
			PatronId: p.PatronID, HomeLibraryId: p.HomeLibraryID, Reads: p.Reads, Fields: fieldsToProto(p.Fields),
			FirstReadTime: protoconv.Time(p.First), LastReadTime: protoconv.Time(p.Last),
		})
	}
	return resp, nil
}

// ExportBreachScope implements pb.AuditServiceServer.
func (s *Service) ExportBreachScope(ctx context.Context, req *pb.ExportBreachScopeRequest) (*pb.ExportBreachScopeResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	f := breachFilter(req.GetFilter())
	first := req.GetPageToken() == ""
	ps, next, err := s.page(ctx, f, req.GetPageToken(), pagetoken.Size(req.GetPageSize(), 5000))
	if err != nil {
		return nil, err
	}
	if req.GetFormat() == pb.BreachExportFormat_BREACH_EXPORT_FORMAT_JSON {
		var sum *auditquery.Summary
		if first {
			sm, err := auditquery.Summarize(ctx, s.db, f)
			if err != nil {
				return nil, store.StatusContext(ctx, err)
			}
			sum = &sm
		}
		data, err := auditquery.WriteJSON(f, sum, ps, next, s.clock.Now())
		if err != nil {
			return nil, status.Error(codes.Internal, "rendering the export failed")
		}
		return &pb.ExportBreachScopeResponse{Data: data, ContentType: "application/json", NextPageToken: next}, nil
	}
	data, err := auditquery.WriteCSV(ps, first)
	if err != nil {
		return nil, status.Error(codes.Internal, "rendering the export failed")
	}
	return &pb.ExportBreachScopeResponse{Data: data, ContentType: "text/csv; charset=utf-8", NextPageToken: next}, nil
}

// VerifyAuditChain implements pb.AuditServiceServer.
func (s *Service) VerifyAuditChain(ctx context.Context, _ *pb.VerifyAuditChainRequest) (*pb.VerifyAuditChainResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	r, err := audit.Verify(ctx, s.db)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	return &pb.VerifyAuditChainResponse{Checked: r.Checked, Ok: r.OK, FirstBrokenSeq: r.FirstBrokenSeq, Reason: r.Reason}, nil
}

func fieldsToProto(fs []auditquery.FieldCount) []*pb.BreachFieldCount {
	out := make([]*pb.BreachFieldCount, len(fs))
	for i, f := range fs {
		out[i] = &pb.BreachFieldCount{Field: f.Field, Reads: f.Reads, Patrons: f.Patrons}
	}
	return out
}
