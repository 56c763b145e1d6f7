package policies

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/policystore"
	"github.com/patronfed/patronfed/replay"
	"github.com/patronfed/patronfed/services/pagetoken"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// ActionExplain is the audit action of ExplainAccess: the operator learned
// how the policy treats a patron (ids and reasons, no patron data).
const ActionExplain = "policy.explain"

// Service implements pb.PolicyServiceServer.
type Service struct {
	pb.UnimplementedPolicyServiceServer
	db       *pgxpool.Pool
	store    *policystore.Store
	reloader *policystore.Reloader
	audit    *audit.Writer
	clock    clock.Clock
}

// New returns the service.
func New(db *pgxpool.Pool, st *policystore.Store, r *policystore.Reloader, w *audit.Writer, clk clock.Clock) *Service {
	return &Service{db: db, store: st, reloader: r, audit: w, clock: clk}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterPolicyServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterPolicyServiceHandler(ctx, mux, conn)
}

func operator(ctx context.Context) (policystore.Actor, error) {
	p, err := identity.RequireOperator(ctx)
	if err != nil {
		return policystore.Actor{}, err
	}
	return policystore.Actor{ID: p.ID, Username: p.Username}, nil
}

// UploadPolicy implements pb.PolicyServiceServer.
func (s *Service) UploadPolicy(ctx context.Context, req *pb.UploadPolicyRequest) (*pb.UploadPolicyResponse, error) {
	by, err := operator(ctx)
	if err != nil {
		return nil, err
	}
	b := bundleFromProto(req.GetBundle())
	if err := policy.Validate(ctx, b); err != nil {
		return nil, bundleStatus(err)
	}
	v, err := s.store.Upload(ctx, b, req.GetDescription(), by, s.clock.Now())
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	return &pb.UploadPolicyResponse{Policy: versionToProto(v)}, nil
}

// GetPolicy implements pb.PolicyServiceServer.
func (s *Service) GetPolicy(ctx context.Context, req *pb.GetPolicyRequest) (*pb.GetPolicyResponse, error) {
	if _, err := operator(ctx); err != nil {
		return nil, err
	}
	v, b, err := s.store.Get(ctx, req.GetVersion())
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	pbb, err := bundleToProto(b)
	if err != nil {
		return nil, status.Error(codes.Internal, "stored bundle data cannot be rendered")
	}
	return &pb.GetPolicyResponse{Policy: versionToProto(v), Bundle: pbb}, nil
}

// ListPolicies implements pb.PolicyServiceServer.
func (s *Service) ListPolicies(ctx context.Context, req *pb.ListPoliciesRequest) (*pb.ListPoliciesResponse, error) {
	if _, err := operator(ctx); err != nil {
		return nil, err
	}
	before, err := pagetoken.ParseInt(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	size := pagetoken.Size(req.GetPageSize(), 50)
	vs, err := s.store.List(ctx, before, size+1)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	active, err := s.store.ActiveVersion(ctx)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp := &pb.ListPoliciesResponse{ActiveVersion: active}
	if len(vs) > size {
		vs = vs[:size]
		resp.NextPageToken = pagetoken.Int(vs[size-1].Version)
	}
	for _, v := range vs {
		resp.Policies = append(resp.Policies, versionToProto(v))
	}
	return resp, nil
}

// ValidatePolicy implements pb.PolicyServiceServer.
func (s *Service) ValidatePolicy(ctx context.Context, req *pb.ValidatePolicyRequest) (*pb.ValidatePolicyResponse, error) {
	if _, err := operator(ctx); err != nil {
		return nil, err
	}
	b := bundleFromProto(req.GetBundle())
	if v := req.GetVersion(); v != 0 {
		var err error
		if _, b, err = s.store.Get(ctx, v); err != nil {
			return nil, store.StatusContext(ctx, err)
		}
	}
	err := policy.Validate(ctx, b)
	var be *policy.BundleError
	switch {
	case err == nil:
		return &pb.ValidatePolicyResponse{Valid: true}, nil
	case errors.As(err, &be):
		return &pb.ValidatePolicyResponse{Problems: problemsToProto(be.Problems)}, nil
	}
	return nil, status.Error(codes.Internal, "validation failed")
}

// TestPolicy implements pb.PolicyServiceServer.
func (s *Service) TestPolicy(ctx context.Context, req *pb.TestPolicyRequest) (*pb.TestPolicyResponse, error) {
	if _, err := operator(ctx); err != nil {
		return nil, err
	}
	_, b, err := s.store.Get(ctx, req.GetVersion())
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	results, err := policy.RunTests(ctx, b)
	if err != nil {
		return nil, bundleStatus(err)
	}
	resp := &pb.TestPolicyResponse{Results: testsToProto(results)}
	for _, r := range results {
		if r.Pass {
			resp.Passed++
		} else {
			resp.Failed++
		}
	}
	return resp, nil
}

// Defaults and limits of a dry run.
const (
	defaultDryRunLast    = 1000
	defaultDryRunChanges = 200
)

// DryRunPolicy implements pb.PolicyServiceServer.
func (s *Service) DryRunPolicy(ctx context.Context, req *pb.DryRunPolicyRequest) (*pb.DryRunPolicyResponse, error) {
	if _, err := operator(ctx); err != nil {
		return nil, err
	}
	_, b, err := s.store.Get(ctx, req.GetVersion())
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	engine, err := policy.NewEngine(ctx, b)
	if err != nil {
		return nil, bundleStatus(err)
	}
	res, err := replay.Run(ctx, s.db, engine, req.GetVersion(),
		pagetoken.Size(req.GetLast(), defaultDryRunLast), pagetoken.Size(req.GetMaxChanges(), defaultDryRunChanges))
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp := &pb.DryRunPolicyResponse{
		Evaluated: int32(res.Evaluated), AllowToDeny: int32(res.AllowToDeny), DenyToAllow: int32(res.DenyToAllow),
		FieldsChanged: int32(res.FieldsChanged), Errors: int32(res.Errors), Truncated: res.Truncated,
	}
	for _, c := range res.Changes {
		resp.Changes = append(resp.Changes, &pb.DecisionChange{
			AuditSeq: c.Seq, Time: protoconv.Time(c.At), ActorId: c.ActorID, ActorLibraryId: c.ActorLibraryID,
			Action: c.Action, PatronId: c.PatronID, Kind: changeKind(c.Kind),
			Before: outcomeToProto(c.Before), After: outcomeToProto(c.After),
		})
	}
	return resp, nil
}

// ActivatePolicy implements pb.PolicyServiceServer.
func (s *Service) ActivatePolicy(ctx context.Context, req *pb.ActivatePolicyRequest) (*pb.ActivatePolicyResponse, error) {
	by, err := operator(ctx)
	if err != nil {
		return nil, err
	}
	_, b, err := s.store.Get(ctx, req.GetVersion())
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	// The bundle must compile for the engine, not only for the tests.
	if _, err := policy.NewEngine(ctx, b); err != nil {
		return nil, bundleStatus(err)
	}
	results, err := policy.RunTests(ctx, b)
	if err != nil {
		return nil, bundleStatus(err)
	}
	if err := testsPassed(results); err != nil {
		return nil, err
	}
	prev, err := s.store.Activate(ctx, req.GetVersion(), by, s.clock.Now())
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	return s.switched(ctx, req.GetVersion(), prev, results)
}

// RollbackPolicy implements pb.PolicyServiceServer.
func (s *Service) RollbackPolicy(ctx context.Context, req *pb.RollbackPolicyRequest) (*pb.RollbackPolicyResponse, error) {
	by, err := operator(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetVersion() != 0 {
		if _, _, err := s.store.Get(ctx, req.GetVersion()); err != nil {
			return nil, store.StatusContext(ctx, err)
		}
	}
	to, prev, err := s.store.Rollback(ctx, req.GetVersion(), by, s.clock.Now())
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp, err := s.switched(ctx, to, prev, nil)
	if err != nil {
		return nil, err
	}
	return &pb.RollbackPolicyResponse{Policy: resp.GetPolicy(), PreviousVersion: prev}, nil
}

// switched loads the new active version on this replica at once (the
// others follow by NOTIFY) and describes it.
func (s *Service) switched(ctx context.Context, version, prev int64, results []policy.TestResult) (*pb.ActivatePolicyResponse, error) {
	if err := s.reloader.Refresh(ctx); err != nil {
		// Committed: the poll will pick it up. Say so rather than fail.
		return nil, status.Error(codes.Unavailable, "policy switched, but this replica could not load it yet; it will within seconds")
	}
	v, _, err := s.store.Get(ctx, version)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	return &pb.ActivatePolicyResponse{Policy: versionToProto(v), PreviousVersion: prev, TestResults: testsToProto(results)}, nil
}

// testsPassed refuses a bundle without tests or with a failing test, with
// a PreconditionFailure naming each failed test.
func testsPassed(results []policy.TestResult) error {
	if len(results) == 0 {
		return status.Error(codes.FailedPrecondition, "the bundle has no tests (*_test.rego with test_ rules); a policy is activated only when its tests pass")
	}
	var failed []*errdetails.PreconditionFailure_Violation
	var names []string
	for _, r := range results {
		if !r.Pass {
			name := r.Package + "." + r.Name
			names = append(names, name)
			failed = append(failed, &errdetails.PreconditionFailure_Violation{Type: "POLICY_TEST_FAILED", Subject: name, Description: r.Fail})
		}
	}
	if len(failed) == 0 {
		return nil
	}
	st := status.New(codes.FailedPrecondition, fmt.Sprintf("%d of %d policy tests fail: %s", len(failed), len(results), strings.Join(names, ", ")))
	if d, err := st.WithDetails(&errdetails.PreconditionFailure{Violations: failed}); err == nil {
		st = d
	}
	return st.Err()
}

// ListPolicyActivations implements pb.PolicyServiceServer.
func (s *Service) ListPolicyActivations(ctx context.Context, req *pb.ListPolicyActivationsRequest) (*pb.ListPolicyActivationsResponse, error) {
	if _, err := operator(ctx); err != nil {
		return nil, err
	}
	before, err := pagetoken.ParseInt(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	size := pagetoken.Size(req.GetPageSize(), 50)
	as, err := s.store.Activations(ctx, before, size+1)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp := &pb.ListPolicyActivationsResponse{}
	if len(as) > size {
		as = as[:size]
		resp.NextPageToken = pagetoken.Int(as[size-1].ID)
	}
	for _, a := range as {
		resp.Activations = append(resp.Activations, &pb.PolicyActivation{
			Id: a.ID, Version: a.Version, Kind: a.Kind, ActorId: a.ActorID, ActorUsername: a.ActorUsername,
			ActivateTime: protoconv.Time(a.ActivatedAt),
		})
	}
	return resp, nil
}

// ExplainAccess implements pb.PolicyServiceServer. It evaluates the
// question with the active policy and floor exactly as a real request
// would, returns only the decision, field-group names and reasons, and
// audits that the operator asked.
func (s *Service) ExplainAccess(ctx context.Context, req *pb.ExplainAccessRequest) (*pb.ExplainAccessResponse, error) {
	p, err := identity.RequireOperator(ctx)
	if err != nil {
		return nil, err
	}
	action := req.GetAction()
	if action == "" {
		action = policy.ActionPatronRead
	}
	var (
		library  *string
		roles    []string
		disabled bool
	)
	err = s.db.QueryRow(ctx, `SELECT library_id::text, roles, disabled_at IS NOT NULL FROM accounts WHERE id = $1 AND kind = 'staff'`,
		req.GetStaffAccountId()).Scan(&library, &roles, &disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, status.Error(codes.NotFound, "staff account not found")
	}
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	res, err := patron.LoadResource(ctx, s.db, req.GetPatronId())
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) || status.Code(err) == codes.NotFound {
			return nil, status.Error(codes.NotFound, "patron not found")
		}
		return nil, store.StatusContext(ctx, err)
	}
	subject := policy.Subject{Kind: policy.KindStaff, AccountID: req.GetStaffAccountId(), Permissions: identity.Permissions(roles)}
	if library != nil {
		subject.LibraryID = *library
	}
	in := policy.Input{Subject: subject, Action: action, Resource: res}
	d, version, err := s.reloader.Decide(ctx, in)
	if err != nil {
		return nil, status.Error(codes.Internal, "access policy failed")
	}
	if disabled {
		d = policy.Decision{Reasons: append(d.Reasons, "the staff account is disabled: it cannot sign in, so every request is refused")}
	}
	e := audit.EntryFor(ctx, p, ActionExplain, req.GetPatronId())
	e.Allowed = true
	e.Reasons = []string{"operator explained the access of staff account " + req.GetStaffAccountId() + " (" + action + ")"}
	e.PolicyVersion = version
	if err := s.audit.Record(ctx, e); err != nil {
		return nil, status.Error(codes.Unavailable, "cannot write the audit log right now; nothing was returned")
	}
	return &pb.ExplainAccessResponse{Allow: d.Allow, Fields: d.Fields, Reasons: d.Reasons, PolicyVersion: version, Action: action}, nil
}

// bundleStatus maps a bundle that does not compile to INVALID_ARGUMENT with
// one field violation per problem (file:line in the description).
func bundleStatus(err error) error {
	var be *policy.BundleError
	if !errors.As(err, &be) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return store.Status(err)
		}
		return status.Error(codes.Internal, "policy could not be compiled")
	}
	st := status.New(codes.InvalidArgument, be.Error())
	br := &errdetails.BadRequest{}
	for _, p := range be.Problems {
		field := "bundle.modules"
		if p.File != "" {
			field = fmt.Sprintf("bundle.modules[%q]", p.File)
		}
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: field, Description: p.String()})
	}
	if d, err := st.WithDetails(br); err == nil {
		st = d
	}
	return st.Err()
}

func bundleFromProto(b *pb.PolicyBundle) policy.Bundle {
	if b == nil {
		return policy.Bundle{}
	}
	out := policy.Bundle{Modules: b.GetModules(), Data: map[string]any{}}
	if b.GetData() != nil {
		out.Data = b.GetData().AsMap()
	}
	return out
}

func bundleToProto(b policy.Bundle) (*pb.PolicyBundle, error) {
	data, err := structpb.NewStruct(b.Data)
	if err != nil {
		return nil, err
	}
	return &pb.PolicyBundle{Modules: b.Modules, Data: data}, nil
}

func versionToProto(v policystore.Version) *pb.PolicyVersion {
	return &pb.PolicyVersion{
		Version: v.Version, Description: v.Description, AuthorId: v.AuthorID, AuthorUsername: v.AuthorUsername,
		CreateTime: protoconv.Time(v.CreatedAt), Sha256: fmt.Sprintf("%x", v.SHA256), Active: v.Active,
		LastActivateTime: protoconv.TimePtr(v.LastActivatedAt), ModuleNames: v.ModuleNames,
	}
}

func problemsToProto(ps []policy.Problem) []*pb.PolicyProblem {
	out := make([]*pb.PolicyProblem, len(ps))
	for i, p := range ps {
		out[i] = &pb.PolicyProblem{File: p.File, Line: int32(p.Line), Column: int32(p.Col), Code: p.Code, Message: p.Message}
	}
	return out
}

func testsToProto(rs []policy.TestResult) []*pb.PolicyTestResult {
	out := make([]*pb.PolicyTestResult, len(rs))
	for i, r := range rs {
		out[i] = &pb.PolicyTestResult{Package: r.Package, Name: r.Name, Pass: r.Pass, Failure: r.Fail}
	}
	return out
}

func outcomeToProto(o replay.Outcome) *pb.DecisionOutcome {
	return &pb.DecisionOutcome{Allow: o.Allow, Fields: o.Fields, Reasons: o.Reasons, PolicyVersion: o.PolicyVersion}
}

func changeKind(k replay.Kind) pb.DecisionChangeKind {
	switch k {
	case replay.AllowToDeny:
		return pb.DecisionChangeKind_DECISION_CHANGE_KIND_ALLOW_TO_DENY
	case replay.DenyToAllow:
		return pb.DecisionChangeKind_DECISION_CHANGE_KIND_DENY_TO_ALLOW
	case replay.FieldsChanged:
		return pb.DecisionChangeKind_DECISION_CHANGE_KIND_FIELDS_CHANGED
	}
	return pb.DecisionChangeKind_DECISION_CHANGE_KIND_UNSPECIFIED
}
