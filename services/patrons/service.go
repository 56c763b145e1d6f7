package patrons

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/consent"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/requestid"
	"github.com/patronfed/patronfed/store"
)

// Service implements pb.PatronServiceServer.
type Service struct {
	pb.UnimplementedPatronServiceServer
	db    *pgxpool.Pool
	kr    *pii.Keyring
	guard *access.Guard
	clock clock.Clock
	hash  auth.Params
	// searcher runs searches (and caches what chooses their plans).
	searcher *patron.Searcher
	// changed is called with a patron's id after their PIN is set.
	changed func(patronID string)
}

// New returns the service. hash sets the argon2id cost of new PINs;
// changed (may be nil) is called with the patron's id after a PIN is set,
// so that this replica drops the patron's cached principal at once.
func New(db *pgxpool.Pool, kr *pii.Keyring, guard *access.Guard, clk clock.Clock, hash auth.Params, search *patron.Searcher,
	changed func(patronID string)) *Service {
	if changed == nil {
		changed = func(string) {}
	}
	return &Service{db: db, kr: kr, guard: guard, clock: clk, hash: hash, searcher: search, changed: changed}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterPatronServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterPatronServiceHandler(ctx, mux, conn)
}

// snapshot is one consistent, read-only view for a read.
var snapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// caller admits every kind of principal: the policy decides what each may
// do, and denials are audited.
func caller(ctx context.Context) (identity.Principal, error) {
	return identity.Require(ctx, identity.KindStaff, identity.KindOperator, identity.KindPatron)
}

// resource loads what the policy needs; a patron that does not exist is
// an empty resource (exists false) so that it is decided, and audited, like
// any other patron the caller may not see.
func resource(ctx context.Context, q patron.Querier, id string) (policy.Resource, bool, error) {
	res, err := patron.LoadResource(ctx, q, id)
	if status.Code(err) == codes.NotFound {
		return policy.Resource{PatronID: id}, false, nil
	}
	return res, err == nil, err
}

// notFound turns a decision about a patron that does not exist into a
// denial (whatever a policy said about an empty resource).
func notFound(d access.Decision) access.Decision {
	d.Allow, d.Fields = false, nil
	d.Reasons = append(slices.Clone(d.Reasons), "no such patron")
	return d
}

// lockAndDecideUpdate locks the patron row for a write and decides
// patron.update on it; a patron that does not exist is denied like one the
// caller may not touch, so a denial reveals nothing.
func (s *Service) lockAndDecideUpdate(ctx context.Context, tx pgx.Tx, p identity.Principal, id string) (access.Decision, int64, error) {
	version, err := patron.Lock(ctx, tx, id)
	exists := status.Code(err) != codes.NotFound
	if exists && err != nil {
		return access.Decision{}, 0, err
	}
	res := policy.Resource{PatronID: id}
	if exists {
		if res, err = patron.LoadResource(ctx, tx, id); err != nil {
			return access.Decision{}, 0, err
		}
	}
	d := s.guard.DecideFor(ctx, p, policy.ActionPatronUpdate, res)
	if !exists {
		d = notFound(d)
	}
	return d, version, nil
}

// render loads the patron and renders the field groups fields.
func (s *Service) render(ctx context.Context, q patron.Querier, id string, fields []string) (*pb.Patron, error) {
	rec, err := patron.Load(ctx, q, id)
	if err != nil {
		return nil, err
	}
	return s.renderRecord(ctx, q, &rec, fields)
}

// renderRecord decrypts the identifiers only if fields include them.
func (s *Service) renderRecord(ctx context.Context, q patron.Querier, rec *patron.Record, fields []string) (*pb.Patron, error) {
	doc, nat := slices.Contains(fields, policy.FieldIDDocument), slices.Contains(fields, policy.FieldNationalIDs)
	ids, err := patron.LoadIdentifiers(ctx, q, s.kr, rec.ID, doc, nat)
	if err != nil {
		return nil, err
	}
	return RecordProto(rec, &ids, fields), nil
}

// GetPatron implements pb.PatronServiceServer.
func (s *Service) GetPatron(ctx context.Context, req *pb.GetPatronRequest) (*pb.GetPatronResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id := req.GetPatronId()
	// One statement is one snapshot: resource, record, cards and the sealed
	// identifiers in one round trip instead of a five-statement transaction
	// (docs/performance.md).
	v, err := patron.LoadView(ctx, s.db, id)
	exists := status.Code(err) != codes.NotFound
	if exists && err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	res := v.Resource
	if !exists {
		res = policy.Resource{PatronID: id}
	}
	d := s.guard.DecideFor(ctx, p, policy.ActionPatronRead, res)
	if !exists {
		d = notFound(d)
	}
	var out *pb.Patron
	if d.Allow {
		ids, err := v.Identifiers(s.kr, slices.Contains(d.Fields, policy.FieldIDDocument), slices.Contains(d.Fields, policy.FieldNationalIDs))
		if err != nil {
			return nil, store.StatusContext(ctx, err)
		}
		out = RecordProto(&v.Record, &ids, d.Fields)
	}
	if err := s.guard.Record(ctx, s.guard.Entry(ctx, p, d)); err != nil {
		return nil, err
	}
	if !d.Allow {
		return nil, access.Denied()
	}
	return &pb.GetPatronResponse{Patron: out}, nil
}

// staffActor is the consent actor for staff recording a consent in person.
func staffActor(ctx context.Context, p identity.Principal) consent.Actor {
	return consent.Actor{Kind: "staff", ID: p.ID, LibraryID: p.LibraryID, Method: consent.MethodInPerson, RequestID: requestid.From(ctx)}
}

// RegisterPatron implements pb.PatronServiceServer.
func (s *Service) RegisterPatron(ctx context.Context, req *pb.RegisterPatronRequest) (*pb.RegisterPatronResponse, error) {
	p, err := identity.RequireStaff(ctx, identity.PermPatronWrite)
	if err != nil {
		return nil, err
	}
	home := req.GetHomeLibraryId()
	if home == "" {
		home = p.LibraryID
	}
	f := fieldsFromProto(req.GetPatron())
	optional := req.GetOptionalDataConsent()
	now := s.clock.Now()
	settings, err := patron.LoadSettings(ctx, s.db, home, "home_library_id")
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	if home != p.LibraryID {
		return nil, status.Error(codes.PermissionDenied, "staff register patrons at their own library only")
	}
	if err := patron.Check(&f, optional, settings, now, "patron"); err != nil {
		return nil, err
	}
	d := s.guard.DecideFor(ctx, p, policy.ActionPatronUpdate, policy.Resource{HomeLibraryID: home, OptionalDataConsent: optional})
	if !d.Allow {
		if err := s.guard.Record(ctx, s.guard.Entry(ctx, p, d)); err != nil {
			return nil, err
		}
		return nil, access.Denied()
	}
	for _, g := range setGroups(&f) {
		if !d.Has(g) {
			return nil, s.refuse(ctx, p, d, g)
		}
	}
	var pinHash string
	if pin := req.GetPin(); pin != "" {
		if pinHash, err = auth.HashSecret(pin, s.hash); err != nil {
			return nil, status.Error(codes.Internal, "internal error")
		}
	}
	var out *pb.Patron
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		id, err := patron.Register(ctx, tx, s.kr, &patron.Registration{
			Fields: f, HomeLibraryID: home, CardNumber: req.GetCardNumber(), PINHash: pinHash,
			OptionalDataConsent: optional, At: now,
		})
		if err != nil {
			return err
		}
		if optional {
			c := consent.Change{PatronID: id, Scope: consent.ScopeOptionalData, Grant: true}
			if err := consent.LogEvent(ctx, tx, c, staffActor(ctx, p), now); err != nil {
				return err
			}
		}
		d.Input.Resource.PatronID = id
		out, err = s.render(ctx, tx, id, d.Fields)
		return err
	})
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	if err := s.guard.Record(ctx, s.guard.Entry(ctx, p, d)); err != nil {
		return nil, err
	}
	return &pb.RegisterPatronResponse{Patron: out}, nil
}

// refuse audits and answers a write of a field group the decision does not
// return (the patron is visible to the caller, so saying why reveals
// nothing).
func (s *Service) refuse(ctx context.Context, p identity.Principal, d access.Decision, group string) error {
	reason := "the caller may not write field group " + group
	if err := s.guard.Record(ctx, s.guard.Refusal(ctx, p, d, reason)); err != nil {
		return err
	}
	return status.Errorf(codes.PermissionDenied, "you may not write %s data of this patron (missing permission)", group)
}

// errRefused ends a transaction whose change the handler refuses.
var errRefused = errors.New("refused")

// UpdatePatron implements pb.PatronServiceServer.
func (s *Service) UpdatePatron(ctx context.Context, req *pb.UpdatePatronRequest) (*pb.UpdatePatronResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id := req.GetPatronId()
	mask := slices.Compact(slices.Sorted(slices.Values(req.GetUpdateMask().GetPaths())))
	in := fieldsFromProto(req.GetPatron())
	now := s.clock.Now()
	var d access.Decision
	var refused string
	var out *pb.Patron
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		out, refused = nil, ""
		var version int64
		if d, version, err = s.lockAndDecideUpdate(ctx, tx, p, id); err != nil {
			return err
		}
		if !d.Allow {
			return nil
		}
		if version != req.GetVersion() {
			return patron.ErrVersion
		}
		rec, err := patron.Load(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, m := range mask {
			g := patron.GroupOf(m)
			// Without consent the contact group is withheld; Check then
			// refuses any value with the reason (FAILED_PRECONDITION).
			if g == policy.FieldContact && !rec.OptionalDataConsent {
				continue
			}
			if !d.Has(g) {
				refused = g
				return errRefused
			}
		}
		after := patron.FieldsOf(&rec)
		apply(&after, &in, mask)
		settings, err := patron.LoadSettings(ctx, tx, rec.HomeLibraryID, "patron_id")
		if err != nil {
			return err
		}
		if err := patron.Check(&after, rec.OptionalDataConsent, settings, now, "patron"); err != nil {
			return err
		}
		if _, err := patron.Update(ctx, tx, s.kr, id, &after, mask, now); err != nil {
			return err
		}
		out, err = s.render(ctx, tx, id, d.Fields)
		return err
	})
	switch {
	case errors.Is(err, errRefused):
		return nil, s.refuse(ctx, p, d, refused)
	case err != nil:
		return nil, store.StatusContext(ctx, err)
	}
	if err := s.guard.Record(ctx, s.guard.Entry(ctx, p, d)); err != nil {
		return nil, err
	}
	if !d.Allow {
		return nil, access.Denied()
	}
	return &pb.UpdatePatronResponse{Patron: out}, nil
}

// apply copies the fields named in mask from in to f.
func apply(f, in *patron.Fields, mask []string) {
	for _, m := range mask {
		switch m {
		case "first_name":
			f.FirstName = in.FirstName
		case "last_name":
			f.LastName = in.LastName
		case "birth_date":
			f.BirthDate = in.BirthDate
		case "permanent_address":
			f.PermanentAddress = in.PermanentAddress
		case "contact_address":
			f.ContactAddress = in.ContactAddress
		case "email":
			f.Email = in.Email
		case "phone":
			f.Phone = in.Phone
		case "academic_titles":
			f.AcademicTitles = in.AcademicTitles
		case "category":
			f.Category = in.Category
		case "mother_tongue":
			f.MotherTongue = in.MotherTongue
		case "guardian":
			f.Guardian = in.Guardian
		case "id_document_number":
			f.IDDocument = in.IDDocument
		case "national_ids":
			f.NationalIDs = in.NationalIDs
		case "special_categories":
			f.SpecialCategories = in.SpecialCategories
		}
	}
}

// IssueCard implements pb.PatronServiceServer.
func (s *Service) IssueCard(ctx context.Context, req *pb.IssueCardRequest) (*pb.IssueCardResponse, error) {
	var out *pb.Patron
	now := s.clock.Now()
	err := s.changeCards(ctx, req.GetPatronId(), false, func(tx pgx.Tx, d access.Decision) error {
		if err := patron.IssueCard(ctx, tx, req.GetPatronId(), req.GetCardNumber(), now); err != nil {
			return err
		}
		var err error
		out, err = s.render(ctx, tx, req.GetPatronId(), d.Fields)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.IssueCardResponse{Patron: out}, nil
}

// SetPatronPin implements pb.PatronServiceServer: decided as IssueCard.
// The PIN is hashed before the transaction.
func (s *Service) SetPatronPin(ctx context.Context, req *pb.SetPatronPinRequest) (*pb.SetPatronPinResponse, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	pinHash, err := auth.HashSecret(req.GetPin(), s.hash)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	id := req.GetPatronId()
	now := s.clock.Now()
	if err := s.changeCards(ctx, id, true, func(tx pgx.Tx, _ access.Decision) error {
		return patron.SetPin(ctx, tx, id, pinHash, now)
	}); err != nil {
		return nil, err
	}
	s.changed(id)
	return &pb.SetPatronPinResponse{}, nil
}

// changeCards runs change in a transaction if the caller may update the
// patron id's cards field group (the home library's registration desk),
// and audits the decision either way; with nothingReturned the audit entry
// names no field of the record.
func (s *Service) changeCards(ctx context.Context, id string, nothingReturned bool, change func(pgx.Tx, access.Decision) error) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	var d access.Decision
	err = store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var err error
		if d, _, err = s.lockAndDecideUpdate(ctx, tx, p, id); err != nil {
			return err
		}
		if !d.Allow {
			return nil
		}
		if !d.Has(policy.FieldCards) {
			return errRefused
		}
		return change(tx, d)
	})
	switch {
	case errors.Is(err, errRefused):
		return s.refuse(ctx, p, d, policy.FieldCards)
	case err != nil:
		return store.StatusContext(ctx, err)
	}
	e := s.guard.Entry(ctx, p, d)
	if nothingReturned {
		e.Fields = nil
	}
	if err := s.guard.Record(ctx, e); err != nil {
		return err
	}
	if !d.Allow {
		return access.Denied()
	}
	return nil
}

// ListPatrons implements pb.PatronServiceServer.
func (s *Service) ListPatrons(ctx context.Context, req *pb.ListPatronsRequest) (*pb.ListPatronsResponse, error) {
	ps, next, err := s.search(ctx, patron.Query{}, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &pb.ListPatronsResponse{Patrons: ps, NextPageToken: next}, nil
}

// SearchPatrons implements pb.PatronServiceServer.
func (s *Service) SearchPatrons(ctx context.Context, req *pb.SearchPatronsRequest) (*pb.SearchPatronsResponse, error) {
	q := patron.Query{Name: req.GetName(), BirthDate: req.GetBirthDate(), CardNumber: req.GetCardNumber()}
	if q.BirthDate != "" {
		if _, err := patron.ParseDate(q.BirthDate); err != nil {
			return nil, store.InvalidField("birth_date", err.Error())
		}
	}
	if n := req.GetNationalId(); n != nil {
		q.NationalIDKind = nationalKinds[n.GetKind()]
		q.NationalIDIndex = s.kr.BlindIndex(q.NationalIDKind, n.GetValue())
	}
	ps, next, err := s.search(ctx, q, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &pb.SearchPatronsResponse{Patrons: ps, NextPageToken: next}, nil
}

const (
	defaultPageSize = 50
	maxOffset       = 100000
)

// search runs q for the caller: the SQL filter selects only patrons the
// caller may see, then every hit is decided by the policy in force (which
// may be stricter) and audited; only allowed hits are returned, with the
// field groups decided.
func (s *Service) search(ctx context.Context, q patron.Query, pageSize int32, token string) ([]*pb.Patron, string, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, "", err
	}
	subject := access.Subject(p)
	if p.Kind != identity.KindStaff || !patron.CanSeeAny(subject) {
		d := s.guard.DecideFor(ctx, p, policy.ActionPatronRead, policy.Resource{})
		d.Allow, d.Fields = false, nil
		if err := s.guard.Record(ctx, s.guard.Entry(ctx, p, d)); err != nil {
			return nil, "", err
		}
		return nil, "", status.Error(codes.PermissionDenied, "permission denied: you may not search the patron base")
	}
	offset, err := parseToken(token)
	if err != nil {
		return nil, "", err
	}
	limit := int(pageSize)
	if limit <= 0 {
		limit = defaultPageSize
	}
	var out []*pb.Patron
	var entries []audit.Entry
	more := false
	err = store.InTx(ctx, s.db, snapshot, func(tx pgx.Tx) error {
		out, entries, more = nil, nil, false
		q.Limit, q.Offset = limit+1, offset
		recs, err := s.searcher.Search(ctx, tx, subject, q)
		if err != nil {
			return err
		}
		if len(recs) > limit {
			more, recs = true, recs[:limit]
		}
		ids := make([]string, len(recs))
		for i := range recs {
			ids[i] = recs[i].ID
		}
		resources, err := patron.LoadResources(ctx, tx, ids)
		if err != nil {
			return err
		}
		decisions := make([]access.Decision, len(recs))
		var withIDs []string // patrons whose identifiers the decision shows
		for i := range recs {
			d := s.guard.DecideFor(ctx, p, policy.ActionPatronRead, resources[recs[i].ID])
			decisions[i] = d
			entries = append(entries, s.guard.Entry(ctx, p, d))
			if d.Allow && (slices.Contains(d.Fields, policy.FieldIDDocument) || slices.Contains(d.Fields, policy.FieldNationalIDs)) {
				withIDs = append(withIDs, recs[i].ID)
			}
		}
		// The identifiers of the whole page in one query, not one per hit.
		sealed, err := patron.LoadSealed(ctx, tx, withIDs)
		if err != nil {
			return err
		}
		for i, d := range decisions {
			if !d.Allow {
				continue
			}
			ids, err := sealed.Open(s.kr, recs[i].ID, slices.Contains(d.Fields, policy.FieldIDDocument), slices.Contains(d.Fields, policy.FieldNationalIDs))
			if err != nil {
				return err
			}
			out = append(out, RecordProto(&recs[i], &ids, d.Fields))
		}
		return nil
	})
	if err != nil {
		return nil, "", store.StatusContext(ctx, err)
	}
	if err := s.guard.Record(ctx, entries...); err != nil {
		return nil, "", err
	}
	next := ""
	if more && offset+limit <= maxOffset {
		next = base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset+limit)))
	}
	return out, next, nil
}

// parseToken reads a page token: an offset into the result list. It holds
// no personal data (not the last name seen), so it may travel in URLs.
func parseToken(token string) (int, error) {
	if token == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !strings.HasPrefix(string(b), "o") {
		return 0, store.InvalidField("page_token", "invalid page token")
	}
	n, err := strconv.Atoi(string(b[1:]))
	if err != nil || n < 0 || n > maxOffset {
		return 0, store.InvalidField("page_token", "invalid page token")
	}
	return n, nil
}
