package patrons

import (
	"slices"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/services/protoconv"
)

var nationalKinds = map[pb.NationalIdKind]string{
	pb.NationalIdKind_NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER: pii.KindPersonalIdentityNumber,
	pb.NationalIdKind_NATIONAL_ID_KIND_COORDINATION_NUMBER:      pii.KindCoordinationNumber,
	pb.NationalIdKind_NATIONAL_ID_KIND_LMA_NUMBER:               pii.KindLMANumber,
	pb.NationalIdKind_NATIONAL_ID_KIND_SSN:                      pii.KindSSN,
}

func nationalKindToProto(k string) pb.NationalIdKind {
	for pk, kind := range nationalKinds {
		if kind == k {
			return pk
		}
	}
	return pb.NationalIdKind_NATIONAL_ID_KIND_UNSPECIFIED
}

var specialCategories = map[pb.SpecialCategory]string{
	pb.SpecialCategory_SPECIAL_CATEGORY_ACCESSIBLE_MEDIA: patron.SpecialAccessibleMedia,
}

// fieldsFromProto converts the request's fields; validation has refused
// unknown enum values already.
func fieldsFromProto(in *pb.PatronFields) patron.Fields {
	f := patron.Fields{
		FirstName: in.GetFirstName(), LastName: in.GetLastName(), BirthDate: in.GetBirthDate(),
		PermanentAddress: in.GetPermanentAddress(), ContactAddress: in.GetContactAddress(),
		Email: in.GetEmail(), Phone: in.GetPhone(), AcademicTitles: in.GetAcademicTitles(),
		Category: in.GetCategory(), MotherTongue: in.GetMotherTongue(),
		IDDocument: pii.NewRedacted(in.GetIdDocumentNumber()),
	}
	if g := in.GetGuardian(); g != nil {
		f.Guardian = &patron.Guardian{Name: g.GetName(), Address: g.GetAddress(), Phone: g.GetPhone(), Email: g.GetEmail()}
	}
	for _, id := range in.GetNationalIds() {
		f.NationalIDs = append(f.NationalIDs, patron.NationalID{Kind: nationalKinds[id.GetKind()], Value: pii.NewRedacted(id.GetValue())})
	}
	for _, c := range in.GetSpecialCategories() {
		f.SpecialCategories = append(f.SpecialCategories, specialCategories[c])
	}
	slices.Sort(f.SpecialCategories)
	return f
}

// setGroups are the field groups a registration writes, by what is given.
func setGroups(f *patron.Fields) []string {
	gs := []string{policy.FieldName, policy.FieldBirthDate, policy.FieldAddress, policy.FieldCards, policy.FieldService}
	if f.Email != "" || f.Phone != "" || f.AcademicTitles != "" {
		gs = append(gs, policy.FieldContact)
	}
	if f.Guardian != nil {
		gs = append(gs, policy.FieldGuardian)
	}
	if !f.IDDocument.IsZero() {
		gs = append(gs, policy.FieldIDDocument)
	}
	if len(f.NationalIDs) > 0 {
		gs = append(gs, policy.FieldNationalIDs)
	}
	if len(f.SpecialCategories) > 0 {
		gs = append(gs, policy.FieldSpecialCategory)
	}
	return gs
}

// RecordProto renders the field groups fields of the record, and nothing
// else. ids must hold the identifiers if fields include their groups.
// Exported for bench/baseline, whose same-read mode answers with the
// message GetPatron builds.
func RecordProto(r *patron.Record, ids *patron.Identifiers, fields []string) *pb.Patron {
	has := func(g string) bool { return slices.Contains(fields, g) }
	out := &pb.Patron{Id: r.ID, Version: r.Version, VisibleFields: slices.Clone(fields)}
	if has(policy.FieldName) {
		out.FirstName, out.LastName = r.FirstName, r.LastName
	}
	if has(policy.FieldBirthDate) {
		out.BirthDate = r.BirthDate
	}
	if has(policy.FieldAddress) {
		out.PermanentAddress, out.ContactAddress = r.PermanentAddress, r.ContactAddress
	}
	if has(policy.FieldCards) {
		out.ActiveCardNumber = r.ActiveCard()
		for _, c := range r.Cards {
			out.Cards = append(out.Cards, &pb.Card{CardNumber: c.Number, Active: c.Active,
				IssueTime: protoconv.Time(c.IssuedAt), RevokeTime: protoconv.TimePtr(c.RevokedAt)})
		}
	}
	if has(policy.FieldService) {
		out.Category, out.HomeLibraryId, out.MotherTongue = r.Category, r.HomeLibraryID, r.MotherTongue
		out.RegisterTime, out.LastActivityTime = protoconv.Time(r.RegisteredAt), protoconv.TimePtr(r.LastActivityAt)
		out.OptionalDataConsent, out.Archived = r.OptionalDataConsent, r.Archived
	}
	if has(policy.FieldContact) && r.OptionalDataConsent {
		out.Email, out.Phone, out.AcademicTitles = r.Email, r.Phone, r.AcademicTitles
	}
	if has(policy.FieldGuardian) && r.Guardian != nil {
		g := r.Guardian
		out.Guardian = &pb.Guardian{Name: g.Name, Address: g.Address, Phone: g.Phone, Email: g.Email}
	}
	if ids != nil && has(policy.FieldIDDocument) {
		out.IdDocumentNumber = ids.IDDocument.Reveal()
	}
	if ids != nil && has(policy.FieldNationalIDs) {
		for _, id := range ids.National {
			out.NationalIds = append(out.NationalIds, &pb.NationalId{Kind: nationalKindToProto(id.Kind), Value: id.Value.Reveal()})
		}
	}
	if has(policy.FieldSpecialCategory) {
		for _, c := range r.SpecialCategories {
			for pc, name := range specialCategories {
				if name == c {
					out.SpecialCategories = append(out.SpecialCategories, pc)
				}
			}
		}
	}
	return out
}
