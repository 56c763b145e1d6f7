package patrons_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// env is a running server with the demo consortium.
type env struct {
	s      *testserver.Server
	c      pb.PatronServiceClient
	mu     sync.Mutex
	tokens map[string]string
}

func start(t *testing.T, opts ...testserver.Option) *env {
	t.Helper()
	s := testserver.Start(t, opts...)
	return &env{s: s, c: pb.NewPatronServiceClient(s.Conn), tokens: map[string]string{}}
}

// token logs in a demo account, or a demo patron as "patron:<card>".
func (e *env) token(t *testing.T, user string) string {
	t.Helper()
	e.mu.Lock()
	tok, ok := e.tokens[user]
	e.mu.Unlock()
	if ok {
		return tok
	}
	if card, isPatron := cutPrefix(user, "patron:"); isPatron {
		tok = e.s.PatronLogin(t, card)
	} else {
		tok = e.s.Login(t, user)
	}
	e.mu.Lock()
	e.tokens[user] = tok
	e.mu.Unlock()
	return tok
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// as returns a context for user carrying a fresh request id, and the id.
func (e *env) as(t *testing.T, user string) (context.Context, string) {
	t.Helper()
	rid := newRequestID()
	return metadata.AppendToOutgoingContext(testserver.Ctx(e.token(t, user)), "x-request-id", rid), rid
}

func (e *env) ctx(t *testing.T, user string) context.Context {
	ctx, _ := e.as(t, user)
	return ctx
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

// id is the patron id of a card.
func (e *env) id(t *testing.T, card string) string {
	t.Helper()
	var id string
	if err := e.s.DB.QueryRow(context.Background(), `SELECT patron_id::text FROM cards WHERE card_number = $1`, card).Scan(&id); err != nil {
		t.Fatalf("card %s: %v", card, err)
	}
	return id
}

// rest sends a JSON request through the gateway as user with a fresh
// request id and returns the status, the decoded body and the request id.
func (e *env) rest(t *testing.T, user, method, path string, body any) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.s.HTTPURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	rid := newRequestID()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", rid)
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+e.token(t, user))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, rid
}

// auditRows returns (allowed, fields) of the audit rows of a request.
func (e *env) auditRows(t *testing.T, rid string) []auditRow {
	t.Helper()
	rows, err := e.s.DB.Query(context.Background(),
		`SELECT coalesce(patron_id::text, ''), action, allowed, fields, reasons, actor_kind FROM audit_log WHERE request_id = $1 ORDER BY seq`, rid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.PatronID, &r.Action, &r.Allowed, &r.Fields, &r.Reasons, &r.ActorKind); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

type auditRow struct {
	PatronID, Action string
	Allowed          bool
	Fields, Reasons  []string
	ActorKind        string
}

// fieldOf returns the field named in a status's BadRequest detail.
func fieldOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
		if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.GetViolations()) > 0 {
			return pf.GetViolations()[0].GetSubject()
		}
	}
	return ""
}

// present reports which field groups hold data in p.
func present(p *pb.Patron) []string {
	var out []string
	add := func(g string, ok bool) {
		if ok {
			out = append(out, g)
		}
	}
	add("name", p.GetFirstName() != "" || p.GetLastName() != "")
	add("birth_date", p.GetBirthDate() != "")
	add("address", p.GetPermanentAddress() != "" || p.GetContactAddress() != "")
	add("cards", p.GetActiveCardNumber() != "" || len(p.GetCards()) > 0)
	add("service", p.GetHomeLibraryId() != "" || p.GetCategory() != "")
	add("contact", p.GetEmail() != "" || p.GetPhone() != "" || p.GetAcademicTitles() != "")
	add("guardian", p.GetGuardian() != nil)
	add("id_document", p.GetIdDocumentNumber() != "")
	add("national_ids", len(p.GetNationalIds()) > 0)
	add("special_category", len(p.GetSpecialCategories()) > 0)
	return out
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
