package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
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
// package documentation for the encoding.
func chainHash(prev []byte, r *row) []byte {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	h.Write(prev)
	e := encoder{h: h}
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
		e.h.Write([]byte{1})
	} else {
		e.h.Write([]byte{0})
	}
	e.list(r.Reasons)
	e.list(r.Fields)
	e.int(r.PolicyVersion)
	e.str(r.Input)
	return h.Sum(nil)
}

type encoder struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64]byte
}

func (e *encoder) int(v int64) {
	binary.BigEndian.PutUint64(e.buf[:8], uint64(v))
	e.h.Write(e.buf[:8])
}

func (e *encoder) uvarint(v uint64) {
	n := binary.PutUvarint(e.buf[:], v)
	e.h.Write(e.buf[:n])
}

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.h.Write([]byte(s))
}

func (e *encoder) nullable(s *string) {
	if s == nil {
		e.h.Write([]byte{0})
		return
	}
	e.h.Write([]byte{1})
	e.str(*s)
}

func (e *encoder) list(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
