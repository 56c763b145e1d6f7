package statistics

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/stats"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.StatisticsServiceServer.
type Service struct {
	pb.UnimplementedStatisticsServiceServer
	db    *pgxpool.Pool
	clock clock.Clock
}

// New returns the service.
func New(db *pgxpool.Pool, clk clock.Clock) *Service { return &Service{db: db, clock: clk} }

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterStatisticsServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterStatisticsServiceHandler(ctx, mux, conn)
}

// scope admits the operator (any library, or all) and staff with
// library.manage (their own library; an empty request means it).
func scope(ctx context.Context, libraryID string) (stats.Scope, error) {
	p, err := identity.Require(ctx, identity.KindOperator, identity.KindStaff)
	if err != nil {
		return stats.Scope{}, err
	}
	if p.Kind == identity.KindOperator {
		return stats.Scope{LibraryID: libraryID}, nil
	}
	if !p.Has(identity.PermLibraryManage) {
		return stats.Scope{}, status.Errorf(codes.PermissionDenied, "missing permission %s", identity.PermLibraryManage)
	}
	if libraryID != "" && libraryID != p.LibraryID {
		return stats.Scope{}, status.Error(codes.PermissionDenied, "managers see their own library's statistics only")
	}
	return stats.Scope{LibraryID: p.LibraryID}, nil
}

func threshold(t *int32) int {
	if t == nil {
		return stats.Threshold(0)
	}
	return stats.Threshold(int(*t))
}

func cellToProto(c stats.Cell) *pb.StatisticCount {
	if c.Suppressed {
		return &pb.StatisticCount{Value: &pb.StatisticCount_Suppressed{Suppressed: true}}
	}
	return &pb.StatisticCount{Value: &pb.StatisticCount_Count{Count: c.Count}}
}

// GetLoanStatistics implements pb.StatisticsServiceServer.
func (s *Service) GetLoanStatistics(ctx context.Context, req *pb.GetLoanStatisticsRequest) (*pb.GetLoanStatisticsResponse, error) {
	sc, err := scope(ctx, req.GetLibraryId())
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	to := now
	if req.GetEndTime() != nil {
		to = req.GetEndTime().AsTime()
	}
	from := to.AddDate(-1, 0, 0)
	if req.GetStartTime() != nil {
		from = req.GetStartTime().AsTime()
	}
	months, ok := stats.MonthWindow(from, to, now)
	if !ok {
		return nil, store.InvalidField("start_time", fmt.Sprintf(
			"loan statistics count whole calendar months (UTC) that have ended; the range asked for holds none (the last ended month is %s)",
			stats.LastEndedMonth(now)))
	}
	t := threshold(req.Threshold)
	rows, err := stats.Loans(ctx, s.db, sc, months, t)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp := &pb.GetLoanStatisticsResponse{
		Threshold: int32(t),
		StartTime: timestamppb.New(months.Start()),
		EndTime:   timestamppb.New(months.End()),
	}
	for _, r := range rows {
		resp.Rows = append(resp.Rows, &pb.LoanStatistic{LibraryId: r.LibraryID, Month: r.Month, Loans: cellToProto(r.Loans)})
	}
	return resp, nil
}

// GetPatronStatistics implements pb.StatisticsServiceServer.
func (s *Service) GetPatronStatistics(ctx context.Context, req *pb.GetPatronStatisticsRequest) (*pb.GetPatronStatisticsResponse, error) {
	sc, err := scope(ctx, req.GetLibraryId())
	if err != nil {
		return nil, err
	}
	t := threshold(req.Threshold)
	rows, err := stats.Patrons(ctx, s.db, sc, t)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp := &pb.GetPatronStatisticsResponse{Threshold: int32(t)}
	for _, r := range rows {
		resp.Rows = append(resp.Rows, &pb.PatronStatistic{LibraryId: r.LibraryID, Category: r.Category, Patrons: cellToProto(r.Patrons)})
	}
	return resp, nil
}

// GetConsentStatistics implements pb.StatisticsServiceServer.
func (s *Service) GetConsentStatistics(ctx context.Context, req *pb.GetConsentStatisticsRequest) (*pb.GetConsentStatisticsResponse, error) {
	sc, err := scope(ctx, req.GetLibraryId())
	if err != nil {
		return nil, err
	}
	t := threshold(req.Threshold)
	rows, err := stats.Consents(ctx, s.db, sc, t)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp := &pb.GetConsentStatisticsResponse{Threshold: int32(t)}
	for _, r := range rows {
		resp.Rows = append(resp.Rows, &pb.ConsentStatistic{
			HomeLibraryId: r.HomeLibraryID, ConsentedLibraryId: r.ConsentedLibraryID, Patrons: cellToProto(r.Patrons),
		})
	}
	return resp, nil
}
