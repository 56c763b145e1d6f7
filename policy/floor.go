package policy

import (
	"slices"
	"strconv"
)

// Reasons Floor appends when it changes a decision.
const (
	floorOperator      = "floor: the consortium operator never reads patron records"
	floorLoanHistory   = "floor: loan history is visible only to the patron, in their own account"
	floorIdentifiers   = "floor: id_document and national_ids are returned only to staff of the patron's home library"
	floorDeniedNoField = "floor: a denied decision returns no fields"
)

// Floor applies the privacy floor to a decision made by any policy. It can
// only narrow d, never widen it. See the package documentation for the rules.
//
// The result is normalised: policy reasons sorted and de-duplicated, followed
// by one "floor: ..." reason for each change Floor made; fields de-duplicated
// and in canonical order (see FieldGroups). d is not modified.
func Floor(in Input, d Decision) Decision {
	reasons := make([]string, len(d.Reasons), len(d.Reasons)+2)
	copy(reasons, d.Reasons)
	return floor(in, d, reasons, make([]string, 0, len(fieldGroups)))
}

// floorOwned is Floor for a decision nobody else refers to (decoded by
// Decide): the result may use d's slices.
func floorOwned(in Input, d Decision) Decision {
	reasons := d.Reasons
	if reasons == nil {
		reasons = make([]string, 0, 2) // Floor's reasons are never nil
	}
	return floor(in, d, reasons, d.Fields[:0])
}

// floor is Floor with the slices the result is made of: reasons holds the
// reasons of d (and is modified), the fields are written into fields
// (there are at most as many as in d.Fields, which is read first).
func floor(in Input, d Decision, reasons, fields []string) Decision {
	out := Decision{Allow: d.Allow}

	slices.Sort(reasons)
	reasons = slices.Compact(reasons)
	change := func(r string) { reasons = append(reasons, r) }

	s := in.Subject
	// (c) The operator never reads patron data.
	if s.Kind == KindOperator && out.Allow {
		out.Allow = false
		change(floorOperator)
	}
	// (a) Loan history: only the patron, in their own account.
	if in.Action == ActionLoanHistoryRead && out.Allow && !isSelf(in) {
		out.Allow = false
		change(floorLoanHistory)
	}

	// (d) A denied decision returns no fields.
	if !out.Allow {
		if len(d.Fields) > 0 && !d.Allow {
			change(floorDeniedNoField)
		}
		out.Reasons = reasons
		return out
	}

	// (e) Unknown field groups are dropped; the rest is put in canonical
	// order without duplicates. A bitmask avoids allocating a set.
	var present uint16
	var unknown []string
	for _, f := range d.Fields {
		if i := fieldIndex(f); i >= 0 {
			present |= 1 << i
		} else if !slices.Contains(unknown, f) {
			unknown = append(unknown, f)
		}
	}
	for _, f := range unknown {
		change("floor: dropped unknown field group " + strconv.Quote(f))
	}

	// (b) Identifiers only for staff of the home library (and the patron
	// themselves); never for staff of another library, operator or anyone
	// else.
	const identifiers = 1<<idxIDDocument | 1<<idxNationalIDs
	if present&identifiers != 0 && !isHomeStaff(in) && !isSelf(in) {
		present &^= identifiers
		change(floorIdentifiers)
	}

	if present != 0 {
		out.Fields = fields
		for i, f := range fieldGroups {
			if present&(1<<i) != 0 {
				out.Fields = append(out.Fields, f)
			}
		}
	}
	out.Reasons = reasons
	return out
}

const (
	idxIDDocument  = 7
	idxNationalIDs = 8
)

func fieldIndex(f string) int {
	for i, g := range fieldGroups {
		if g == f {
			return i
		}
	}
	return -1
}

func isHomeStaff(in Input) bool {
	return in.Subject.Kind == KindStaff && in.Subject.LibraryID != "" &&
		in.Subject.LibraryID == in.Resource.HomeLibraryID
}

func isSelf(in Input) bool {
	return in.Subject.Kind == KindPatron && in.Subject.AccountID != "" &&
		in.Subject.AccountID == in.Resource.PatronID
}
