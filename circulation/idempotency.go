package circulation

import (
	"context"
	"crypto/sha256"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// requestTTL is how long a request id is remembered. Clients retry within
// seconds or minutes; keeping the records short keeps them from becoming a
// second loan history.
const requestTTL = 24 * time.Hour

var errRequestReused = status.Error(codes.InvalidArgument, "request_id was already used for a different request")

// Fingerprint hashes a request with its request_id field cleared, so that
// a reused id with different content is refused rather than answered with
// another request's result.
func Fingerprint(req proto.Message) []byte {
	c := proto.Clone(req)
	if fd := c.ProtoReflect().Descriptor().Fields().ByName("request_id"); fd != nil {
		c.ProtoReflect().Clear(fd)
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	sum := sha256.Sum256(b)
	return sum[:]
}

// NewRequest describes a retryable write by a caller whose scope (library
// or patron) is scope; id is the client's request id, method the RPC name.
func NewRequest(scope, id, method string, req proto.Message) Request {
	return Request{Scope: scope, ID: id, Method: method, Fingerprint: Fingerprint(req)}
}

// Request is one retryable write, identified by the caller's scope (the
// staff member's library, or the patron) and the client's request id.
type Request struct {
	Scope, ID, Method string
	Fingerprint       []byte
}

// Claim records the request inside the write's transaction. If the same
// request committed before, it returns that request's result id and
// replay = true, and the caller returns the stored result instead of acting
// again. A concurrent duplicate blocks on the primary key until the first
// commits (then replays) or rolls back (then acts itself). Failed requests
// leave nothing behind, so their retries act anew.
func (r Request) Claim(ctx context.Context, tx Querier, now time.Time) (resultID string, replay bool, err error) {
	if _, err := tx.Exec(ctx, `DELETE FROM circulation_requests WHERE scope_id = $1 AND created_at < $2`,
		r.Scope, now.Add(-requestTTL)); err != nil {
		return "", false, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO circulation_requests (scope_id, request_id, method, fingerprint, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, r.Scope, r.ID, r.Method, r.Fingerprint, now)
	if err != nil {
		return "", false, err
	}
	if tag.RowsAffected() == 1 {
		return "", false, nil
	}
	var method string
	var fp []byte
	var result *string
	if err := tx.QueryRow(ctx, `SELECT method, fingerprint, result_id::text FROM circulation_requests
		WHERE scope_id = $1 AND request_id = $2`, r.Scope, r.ID).Scan(&method, &fp, &result); err != nil {
		return "", false, err
	}
	if method != r.Method || string(fp) != string(r.Fingerprint) {
		return "", false, errRequestReused
	}
	if result == nil {
		return "", true, nil
	}
	return *result, true, nil
}

// Done stores the result id of a request claimed in the same transaction.
func (r Request) Done(ctx context.Context, tx Querier, resultID string) error {
	_, err := tx.Exec(ctx, `UPDATE circulation_requests SET result_id = nullif($3, '')::uuid
		WHERE scope_id = $1 AND request_id = $2`, r.Scope, r.ID, resultID)
	return err
}
