// Command baseline is the bare baseline of the GetPatron load runs: a
// minimal gRPC server whose PatronService.GetPatron does the same
// single-row pgx read of the patron record as the real handler and nothing
// else — no interceptors (authentication, request id, logging, validation,
// metrics), no transaction, no policy decision, no audit row. What the real
// server costs beyond it is the price of being policy-checked and audited.
//
// With -durable-write it also appends one row per read to
// bench_baseline_reads (id, patron, time; created by loadrun) in an
// autocommitted INSERT that waits for its WAL flush, as the audit row does:
// the least a server that must durably record every read can do.
//
//	go run ./bench/baseline -addr 127.0.0.1:19091 -database-url postgres://...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/store"
)

// recordSQL reads the same columns as patron.Load's record query.
const recordSQL = `SELECT p.id::text, p.home_library_id::text, p.version,
	coalesce(p.first_name, ''), coalesce(p.last_name, ''), coalesce(to_char(p.birth_date, 'YYYY-MM-DD'), ''),
	coalesce(p.permanent_address, ''), coalesce(p.contact_address, ''),
	coalesce(p.email, ''), coalesce(p.phone, ''), coalesce(p.academic_titles, ''), p.optional_data_consent,
	p.category, coalesce(p.mother_tongue, ''), p.registered_at, p.last_activity_at,
	(p.archived_at IS NOT NULL OR p.anonymised_at IS NOT NULL)
	FROM patrons p WHERE p.id = $1`

type service struct {
	pb.UnimplementedPatronServiceServer
	db           *pgxpool.Pool
	durableWrite bool
}

func (s *service) GetPatron(ctx context.Context, req *pb.GetPatronRequest) (*pb.GetPatronResponse, error) {
	var p pb.Patron
	var reg time.Time
	var last *time.Time
	err := s.db.QueryRow(ctx, recordSQL, req.GetPatronId()).Scan(&p.Id, &p.HomeLibraryId, &p.Version,
		&p.FirstName, &p.LastName, &p.BirthDate, &p.PermanentAddress, &p.ContactAddress,
		&p.Email, &p.Phone, &p.AcademicTitles, &p.OptionalDataConsent,
		&p.Category, &p.MotherTongue, &reg, &last, &p.Archived)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, status.Error(codes.NotFound, "no such patron")
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, "database")
	}
	if s.durableWrite {
		if _, err := s.db.Exec(ctx, `INSERT INTO bench_baseline_reads (patron_id, at) VALUES ($1, now())`, p.Id); err != nil {
			return nil, status.Error(codes.Unavailable, "database")
		}
	}
	p.RegisterTime = timestamppb.New(reg)
	if last != nil {
		p.LastActivityTime = timestamppb.New(*last)
	}
	return &pb.GetPatronResponse{Patron: &p}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:19091", "gRPC listen address (loopback)")
	dbURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL")
	maxConns := flag.Int("db-max-conns", 16, "pool size (the server's default)")
	role := flag.String("db-role", "patronfed_app", "role to SET ROLE to, as the server does")
	durableWrite := flag.Bool("durable-write", false, "also INSERT one row per read into bench_baseline_reads and wait for its commit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := store.Open(ctx, *dbURL, store.PoolOptions{MaxConns: int32(*maxConns), AppRole: *role, ApplicationName: "baseline"})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterPatronServiceServer(g, &service{db: pool, durableWrite: *durableWrite})
	reflection.Register(g)
	go func() { <-ctx.Done(); g.GracefulStop() }()
	fmt.Fprintln(os.Stderr, "baseline serving", lis.Addr())
	if err := g.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
