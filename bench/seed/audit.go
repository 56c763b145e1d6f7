package seed

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/policy"
)

// AuditDays is how far back the generated audit log reaches.
const AuditDays = 60

const (
	// auditChunk entries are decided together and written in one
	// Writer.Record call (one group commit).
	auditChunk = 1000
	// auditAhead chunks are decided while earlier ones are written.
	auditAhead  = 4
	streamAudit = 3
)

// auditHistory writes n audit entries: circulation desks reading patrons
// over the last AuditDays days, in time order. They go through
// audit.Writer, so the log is one hash chain that `patronfed audit verify`
// accepts, and each entry's decision comes from the built-in policy, so
// the rows are the size and shape of live ones. A live log of a consortium
// this size is millions of rows; a young one makes the load runs measure
// PostgreSQL analysing a small table every few seconds instead (its
// autoanalyze threshold is a tenth of the table).
func (g *gen) auditHistory(ctx context.Context, db *pgxpool.Pool, n int) (int64, error) {
	desks, err := g.desks(ctx, db)
	if err != nil {
		return 0, err
	}
	eng, err := policy.NewEngine(ctx, policy.Builtin())
	if err != nil {
		return 0, err
	}
	w := audit.NewWriter(db, nil, nil)
	defer w.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type chunk struct {
		entries []audit.Entry
		err     error
	}
	chunks := (n + auditChunk - 1) / auditChunk
	pending := make(chan chan chunk, auditAhead)
	go func() {
		defer close(pending)
		for c := range chunks {
			f := make(chan chunk, 1)
			select {
			case pending <- f:
			case <-ctx.Done():
				return
			}
			go func() {
				es, err := g.auditChunk(ctx, eng, desks, c, n)
				f <- chunk{es, err}
			}()
		}
	}()
	var written int64
	for f := range pending {
		c := <-f
		if c.err != nil {
			return written, c.err
		}
		if err := w.Record(ctx, c.entries...); err != nil {
			return written, fmt.Errorf("seed: audit log: %w", err)
		}
		written += int64(len(c.entries))
	}
	return written, ctx.Err()
}

// desks are the circulation accounts of each library.
func (g *gen) desks(ctx context.Context, db *pgxpool.Pool) ([][]identity.Principal, error) {
	lib := make(map[string]int, len(g.libs))
	for i, id := range g.libs {
		lib[uuid.UUID(id).String()] = i
	}
	rows, err := db.Query(ctx, `SELECT id::text, library_id::text, roles FROM accounts
		WHERE kind = 'staff' AND 'circulation' = ANY (roles) ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	desks := make([][]identity.Principal, len(g.libs))
	for rows.Next() {
		var id, libID string
		var roles []string
		if err := rows.Scan(&id, &libID, &roles); err != nil {
			return nil, err
		}
		i, ok := lib[libID]
		if !ok {
			continue
		}
		desks[i] = append(desks[i], identity.Principal{Kind: identity.KindStaff, ID: id, LibraryID: libID,
			Roles: roles, Permissions: identity.Permissions(roles)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, d := range desks {
		if len(d) == 0 {
			return nil, fmt.Errorf("seed: library %s has no circulation desk", LibraryCode(i))
		}
	}
	return desks, nil
}

// auditChunk decides the entries of chunk c of n: a desk of a library
// (chosen by the libraries' weights) reads one of its own patrons (90 %),
// a patron who consented to share with it (8 %), or any patron (2 %,
// mostly denied). Entry k happens at the k-th n-th of the window.
func (g *gen) auditChunk(ctx context.Context, eng *policy.Engine, desks [][]identity.Principal, c, n int) ([]audit.Entry, error) {
	r := g.rng(streamAudit, uint64(c))
	from := g.o.Now.Add(-AuditDays * day)
	span := AuditDays * day
	first, last := c*auditChunk, min(n, (c+1)*auditChunk)
	es := make([]audit.Entry, 0, last-first)
	var pt patron
	for k := first; k < last; k++ {
		at := from.Add(time.Duration(float64(span) * float64(k) / float64(n))).Truncate(time.Microsecond)
		lib := g.libZipf.pick(r.Float64())
		d := desks[lib][r.IntN(len(desks[lib]))]
		g.patron(g.auditReader(r, lib), &pt)
		in := policy.Input{Subject: access.Subject(d), Action: policy.ActionPatronRead, Resource: policy.Resource{
			PatronID:            uuidText(pt.id),
			HomeLibraryID:       uuidText(g.libs[pt.home]),
			OptionalDataConsent: pt.optional,
		}}
		for _, cs := range pt.consents {
			in.Resource.ConsentLibraryIDs = append(in.Resource.ConsentLibraryIDs, uuidText(g.libs[cs.lib]))
		}
		dec, err := eng.Decide(ctx, in)
		if err != nil {
			return nil, err
		}
		e := audit.Entry{At: at, RequestID: randomHex(r, 12), ActorKind: string(d.Kind), ActorID: d.ID,
			ActorLibraryID: d.LibraryID, ActorRoles: d.Roles, TokenID: dayToken(d.ID, at),
			Action: in.Action, PatronID: in.Resource.PatronID, Allowed: dec.Allow, Reasons: dec.Reasons,
			PolicyVersion: 1, Input: access.InputJSON(in)}
		if dec.Allow {
			e.Fields = dec.Fields
		}
		es = append(es, e)
	}
	return es, nil
}

// auditReader picks the patron a desk of lib reads.
func (g *gen) auditReader(r *rand.Rand, lib int) int {
	u := r.Float64()
	switch {
	case u < 0.90 && len(g.byHome[lib]) > 0:
		return int(g.byHome[lib][r.IntN(len(g.byHome[lib]))])
	case u < 0.98 && len(g.consenting[lib]) > 0:
		return int(g.consenting[lib][r.IntN(len(g.consenting[lib]))])
	default:
		return r.IntN(g.o.Patrons)
	}
}

func randomHex(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)
}

// dayToken is a token id (16 bytes, as auth issues them) for one desk's
// day: desks log in once a day.
func dayToken(account string, at time.Time) string {
	h := fnv.New64a()
	h.Write([]byte(account))
	r := rand.New(rand.NewPCG(uint64(at.Unix()/86400), uint64(len(account))*0x9E3779B97F4A7C15^h.Sum64()))
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
