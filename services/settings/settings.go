package settings

import (
	"context"
	"errors"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/services/pagetoken"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/settings"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.SettingsServiceServer.
type Service struct {
	pb.UnimplementedSettingsServiceServer
	db    *pgxpool.Pool
	clock clock.Clock
}

// New returns the service.
func New(db *pgxpool.Pool, clk clock.Clock) *Service { return &Service{db: db, clock: clk} }

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterSettingsServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterSettingsServiceHandler(ctx, mux, conn)
}

// authorize admits the operator for any library and staff holding
// library.manage for their own library only. Staff asking about another
// library are denied whether or not it exists.
func authorize(ctx context.Context, libraryID string) (identity.Principal, error) {
	p, err := identity.Require(ctx, identity.KindOperator, identity.KindStaff)
	if err != nil {
		return p, err
	}
	if p.Kind == identity.KindOperator {
		return p, nil
	}
	if !p.Has(identity.PermLibraryManage) {
		return p, status.Errorf(codes.PermissionDenied, "missing permission %s", identity.PermLibraryManage)
	}
	if p.LibraryID != libraryID {
		return p, status.Error(codes.PermissionDenied, "managers may manage their own library's settings only")
	}
	return p, nil
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return status.Error(codes.NotFound, "library not found")
	}
	return store.Status(err)
}

// GetLibrarySettings implements pb.SettingsServiceServer.
func (s *Service) GetLibrarySettings(ctx context.Context, req *pb.GetLibrarySettingsRequest) (*pb.GetLibrarySettingsResponse, error) {
	if _, err := authorize(ctx, req.GetLibraryId()); err != nil {
		return nil, err
	}
	st, err := settings.Get(ctx, s.db, req.GetLibraryId())
	if err != nil {
		return nil, notFound(err)
	}
	return &pb.GetLibrarySettingsResponse{Settings: toProto(st)}, nil
}

// UpdateLibrarySettings implements pb.SettingsServiceServer.
func (s *Service) UpdateLibrarySettings(ctx context.Context, req *pb.UpdateLibrarySettingsRequest) (*pb.UpdateLibrarySettingsResponse, error) {
	p, err := authorize(ctx, req.GetLibraryId())
	if err != nil {
		return nil, err
	}
	patch := patchOf(req)
	if len(patch) == 0 {
		return nil, status.Error(codes.InvalidArgument, "set at least one settings field to change")
	}
	actor := settings.Actor{Kind: string(p.Kind), ID: p.ID, Username: p.Username}
	st, changed, err := settings.Update(ctx, s.db, req.GetLibraryId(), patch, actor, s.clock.Now())
	if err != nil {
		return nil, notFound(err)
	}
	return &pb.UpdateLibrarySettingsResponse{Settings: toProto(st), ChangedFields: changed}, nil
}

// ListLibrarySettingsChanges implements pb.SettingsServiceServer.
func (s *Service) ListLibrarySettingsChanges(ctx context.Context, req *pb.ListLibrarySettingsChangesRequest) (*pb.ListLibrarySettingsChangesResponse, error) {
	if _, err := authorize(ctx, req.GetLibraryId()); err != nil {
		return nil, err
	}
	before, err := pagetoken.ParseInt(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	size := pagetoken.Size(req.GetPageSize(), 50)
	changes, err := settings.ListChanges(ctx, s.db, req.GetLibraryId(), before, size+1)
	if err != nil {
		return nil, store.Status(err)
	}
	resp := &pb.ListLibrarySettingsChangesResponse{}
	if len(changes) > size {
		changes = changes[:size]
		resp.NextPageToken = pagetoken.Int(changes[size-1].ID)
	}
	for _, c := range changes {
		resp.Changes = append(resp.Changes, &pb.LibrarySettingsChange{
			Id: c.ID, LibraryId: c.LibraryID, Field: c.Field, OldValue: c.OldValue, NewValue: c.NewValue,
			ChangeTime: protoconv.Time(c.ChangedAt), ActorId: c.ActorID, ActorKind: c.ActorKind, ActorUsername: c.ActorUsername,
		})
	}
	return resp, nil
}

// patchOf collects the fields set in req.
func patchOf(req *pb.UpdateLibrarySettingsRequest) settings.Patch {
	p := settings.Patch{}
	setInt := func(name string, v *int32) {
		if v != nil {
			p[name] = *v
		}
	}
	setBool := func(name string, v *bool) {
		if v != nil {
			p[name] = *v
		}
	}
	setInt("minor_age", req.MinorAge)
	setInt("loan_period_days", req.LoanPeriodDays)
	setInt("max_renewals", req.MaxRenewals)
	setInt("reservation_days", req.ReservationDays)
	setInt("pickup_days", req.PickupDays)
	setInt("overdue_fee_per_day", req.OverdueFeePerDay)
	setInt("fee_block_limit", req.FeeBlockLimit)
	if req.Currency != nil {
		p["currency"] = *req.Currency
	}
	setInt("history_retention_months", req.HistoryRetentionMonths)
	setInt("archive_after_months", req.ArchiveAfterMonths)
	setInt("anonymise_after_months", req.AnonymiseAfterMonths)
	setInt("self_registration_retention_days", req.SelfRegistrationRetentionDays)
	setInt("audit_retention_months", req.AuditRetentionMonths)
	setInt("event_signup_retention_months", req.EventSignupRetentionMonths)
	setBool("collect_email", req.CollectEmail)
	setBool("collect_phone", req.CollectPhone)
	setBool("collect_academic_titles", req.CollectAcademicTitles)
	return p
}

func toProto(s settings.Settings) *pb.LibrarySettings {
	return &pb.LibrarySettings{
		LibraryId:                     s.LibraryID,
		MinorAge:                      s.MinorAge,
		LoanPeriodDays:                s.LoanPeriodDays,
		MaxRenewals:                   s.MaxRenewals,
		ReservationDays:               s.ReservationDays,
		PickupDays:                    s.PickupDays,
		OverdueFeePerDay:              s.OverdueFeePerDay,
		FeeBlockLimit:                 s.FeeBlockLimit,
		Currency:                      s.Currency,
		HistoryRetentionMonths:        s.HistoryRetentionMonths,
		ArchiveAfterMonths:            s.ArchiveAfterMonths,
		AnonymiseAfterMonths:          s.AnonymiseAfterMonths,
		SelfRegistrationRetentionDays: s.SelfRegistrationRetentionDays,
		AuditRetentionMonths:          s.AuditRetentionMonths,
		EventSignupRetentionMonths:    s.EventSignupRetentionMonths,
		CollectEmail:                  s.CollectEmail,
		CollectPhone:                  s.CollectPhone,
		CollectAcademicTitles:         s.CollectAcademicTitles,
		UpdateTime:                    protoconv.Time(s.UpdatedAt),
	}
}
