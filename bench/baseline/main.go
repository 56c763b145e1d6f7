// Command baseline is the bare baseline of the GetPatron load runs: a
// minimal gRPC server whose PatronService.GetPatron does the same
// single-row pgx read of the patron record as the real handler and nothing
// else — no interceptors (authentication, request id, logging, validation,
// metrics), no transaction, no policy decision, no audit row. What the real
// server costs beyond it is the price of being policy-checked and audited.
//
// With -read view it reads what GetPatron reads instead: the one-statement
// view of patron.LoadView (record, cards, consents, active loans' libraries,
// sealed identifiers) and answers with the message GetPatron builds from it
// (patrons.RecordProto) for the field groups the built-in policy grants a
// circulation desk on its own patrons. Against it, the real server's extra
// cost is the policy check, the audit row and the interceptors alone, not
// the size of the record.
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
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/services/patrons"
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

// viewFields are the field groups the built-in policy grants lib01.circ,
// the load run's caller, on a LIB01 patron (the audit log's fields column
// of its reads), without and with the patron's consent to optional data.
// No identifiers: a desk is not granted them. loadrun checks that the
// answers are GetPatron's (checkSameAnswers).
var viewFields = [2][]string{
	{policy.FieldName, policy.FieldBirthDate, policy.FieldAddress, policy.FieldCards, policy.FieldService, policy.FieldGuardian},
	{policy.FieldName, policy.FieldBirthDate, policy.FieldAddress, policy.FieldCards, policy.FieldService, policy.FieldContact, policy.FieldGuardian},
}

type service struct {
	pb.UnimplementedPatronServiceServer
	db           *pgxpool.Pool
	view         bool
	durableWrite bool
}

func (s *service) GetPatron(ctx context.Context, req *pb.GetPatronRequest) (*pb.GetPatronResponse, error) {
	if s.view {
		return s.getView(ctx, req.GetPatronId())
	}
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
	if err := s.write(ctx, p.Id); err != nil {
		return nil, err
	}
	p.RegisterTime = timestamppb.New(reg)
	if last != nil {
		p.LastActivityTime = timestamppb.New(*last)
	}
	return &pb.GetPatronResponse{Patron: &p}, nil
}

// getView reads as GetPatron does and answers with what it would.
func (s *service) getView(ctx context.Context, id string) (*pb.GetPatronResponse, error) {
	v, err := patron.LoadView(ctx, s.db, id)
	if status.Code(err) == codes.NotFound {
		return nil, status.Error(codes.NotFound, "no such patron")
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, "database")
	}
	if err := s.write(ctx, v.Record.ID); err != nil {
		return nil, err
	}
	fields := viewFields[0]
	if v.Resource.OptionalDataConsent {
		fields = viewFields[1]
	}
	return &pb.GetPatronResponse{Patron: patrons.RecordProto(&v.Record, &patron.Identifiers{}, fields)}, nil
}

// write is -durable-write's row: autocommitted, so it returns after its
// WAL flush.
func (s *service) write(ctx context.Context, id string) error {
	if !s.durableWrite {
		return nil
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO bench_baseline_reads (patron_id, at) VALUES ($1, now())`, id); err != nil {
		return status.Error(codes.Unavailable, "database")
	}
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:19091", "gRPC listen address (loopback)")
	dbURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL")
	maxConns := flag.Int("db-max-conns", 16, "pool size (the server's default)")
	role := flag.String("db-role", "patronfed_app", "role to SET ROLE to, as the server does")
	read := flag.String("read", "row", "what to read: row (the patrons row) or view (GetPatron's one-statement view, answered as GetPatron answers)")
	durableWrite := flag.Bool("durable-write", false, "also INSERT one row per read into bench_baseline_reads and wait for its commit")
	flag.Parse()
	if *read != "row" && *read != "view" {
		log.Fatalf("-read %q: want row or view", *read)
	}
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
	pb.RegisterPatronServiceServer(g, &service{db: pool, view: *read == "view", durableWrite: *durableWrite})
	reflection.Register(g)
	go func() { <-ctx.Done(); g.GracefulStop() }()
	fmt.Fprintln(os.Stderr, "baseline serving", lis.Addr())
	if err := g.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
