package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// hashDomain separates this hash from any other SHA-256 use.
const hashDomain = "patronfed.audit.v1\x00"

// HashSize is the size of prev_hash and hash.
const HashSize = sha256.Size

// genesis is the prev_hash of the first row of a chain that was never purged.
var genesis = make([]byte, HashSize)

// row is an audit_log row as it is hashed: exactly the stored values.
type row struct {
	Seq            int64
	AtMicros       int64
	RequestID      string
	ActorKind      string
	ActorID        *string
	ActorLibraryID *string
	ActorRoles     []string
	TokenID        string
	Action         string
	PatronID       *string
	Allowed        bool
	Reasons        []string
	Fields         []string
	PolicyVersion  int64
	Input          string // input::text
}

// chainHash computes the row's hash from the previous row's; see the
// package documentation for the encoding. The encoding is built in one
// buffer and hashed at once (the bytes are those the encoder of earlier
// versions wrote to the hash piece by piece, so old chains verify): writing
// each string through the hash.Hash interface cost an allocation apiece.
func chainHash(prev []byte, r *row) []byte {
	bp := hashBufs.Get().(*[]byte)
	e := encoder{b: (*bp)[:0]}
	defer func() {
		if cap(e.b) <= 64<<10 { // keep a grown buffer, but not a huge one
			*bp = e.b[:0]
		}
		hashBufs.Put(bp)
	}()
	e.b = append(e.b, hashDomain...)
	e.b = append(e.b, prev...)
	e.int(r.Seq)
	e.int(r.AtMicros)
	e.str(r.RequestID)
	e.str(r.ActorKind)
	e.nullable(r.ActorID)
	e.nullable(r.ActorLibraryID)
	e.list(r.ActorRoles)
	e.str(r.TokenID)
	e.str(r.Action)
	e.nullable(r.PatronID)
	if r.Allowed {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
	e.list(r.Reasons)
	e.list(r.Fields)
	e.int(r.PolicyVersion)
	e.str(r.Input)
	sum := sha256.Sum256(e.b)
	return sum[:]
}

// hashBufs hold chainHash's encoding buffers between rows.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// encoder appends the canonical encoding of a row's values.
type encoder struct{ b []byte }

func (e *encoder) int(v int64) { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) nullable(s *string) {
	if s == nil {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.str(*s)
}

func (e *encoder) list(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
