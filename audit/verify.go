package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	// Checked is the number of rows recomputed.
	Checked int64
	OK      bool
	// FirstBrokenSeq is the first row whose link does not verify (0 when
	// OK). For rows missing at the end it is the first missing seq.
	FirstBrokenSeq int64
	// Reason says what is wrong, without row contents.
	Reason string
}

// Verify recomputes the hash chain in seq order, from the anchor of the
// latest purge (or the genesis hash), and reports the first broken link: a
// row whose content or prev_hash no longer matches, a gap in seq, or a chain
// head that is not the last row.
//
// It needs a consistent snapshot while writers are active. Given a pool or
// a connection (anything with BeginTx) it opens a read-only REPEATABLE READ
// transaction itself; given a transaction, the caller chooses.
func Verify(ctx context.Context, q Querier) (VerifyResult, error) {
	if b, ok := q.(interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	}); ok {
		tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return VerifyResult{}, err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
		return verify(ctx, tx)
	}
	return verify(ctx, q)
}

func verify(ctx context.Context, q Querier) (VerifyResult, error) {
	last, prev := int64(0), genesis
	var anchorSeq int64
	var anchorHash []byte
	err := q.QueryRow(ctx, `SELECT last_seq, last_hash FROM audit_purges ORDER BY id DESC LIMIT 1`).Scan(&anchorSeq, &anchorHash)
	switch {
	case err == nil:
		last, prev = anchorSeq, anchorHash
	case !errors.Is(err, pgx.ErrNoRows):
		return VerifyResult{}, err
	}

	rows, err := q.Query(ctx, `
		SELECT seq, at, request_id, actor_kind, actor_id::text, actor_library_id::text, actor_roles, token_id,
		       action, patron_id::text, allowed, reasons, fields, policy_version, input::text, prev_hash, hash
		FROM audit_log WHERE seq > $1 ORDER BY seq`, last)
	if err != nil {
		return VerifyResult{}, err
	}
	defer rows.Close()
	res := VerifyResult{OK: true}
	broken := func(seq int64, format string, args ...any) {
		res.OK, res.FirstBrokenSeq, res.Reason = false, seq, fmt.Sprintf(format, args...)
	}
	for rows.Next() {
		var r row
		var at time.Time
		var prevHash, hash []byte
		if err := rows.Scan(&r.Seq, &at, &r.RequestID, &r.ActorKind, &r.ActorID, &r.ActorLibraryID, &r.ActorRoles, &r.TokenID,
			&r.Action, &r.PatronID, &r.Allowed, &r.Reasons, &r.Fields, &r.PolicyVersion, &r.Input, &prevHash, &hash); err != nil {
			return VerifyResult{}, err
		}
		r.AtMicros = at.UnixMicro()
		r.ActorRoles, r.Reasons, r.Fields = nonNil(r.ActorRoles), nonNil(r.Reasons), nonNil(r.Fields)
		switch {
		case r.Seq != last+1:
			broken(last+1, "rows %d to %d are missing", last+1, r.Seq-1)
		case !bytes.Equal(prevHash, prev):
			broken(r.Seq, "row %d does not link to row %d (prev_hash differs)", r.Seq, last)
		case !bytes.Equal(chainHash(prev, &r), hash):
			broken(r.Seq, "row %d was changed after it was written (hash differs)", r.Seq)
		}
		if !res.OK {
			return res, nil
		}
		res.Checked++
		last, prev = r.Seq, hash
	}
	if err := rows.Err(); err != nil {
		return VerifyResult{}, err
	}

	var headSeq int64
	var headHash []byte
	if err := q.QueryRow(ctx, `SELECT seq, hash FROM audit_chain_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return VerifyResult{}, err
	}
	switch {
	case headSeq > last:
		broken(last+1, "rows %d to %d at the end of the chain are missing", last+1, headSeq)
	case headSeq < last:
		broken(headSeq+1, "rows %d to %d were added after the chain head", headSeq+1, last)
	case !bytes.Equal(headHash, prev):
		broken(last, "the chain head does not match row %d", last)
	}
	return res, nil
}
