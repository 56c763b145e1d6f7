package patron

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/patronfed/patronfed/store"
)

func init() {
	store.RegisterConstraint("cards_pkey", "card_number", "card number already in use")
	store.RegisterConstraint("cards_card_number_check", "card_number", "card number must be 4-32 letters or digits")
	store.RegisterConstraint("patrons_home_library_id_fkey", "home_library_id", "no such library")
	store.RegisterConstraint("patron_identifiers_national_key", "patron.national_ids", "another patron is registered with this national identifier")
	store.RegisterConstraint("patrons_first_name_check", "patron.first_name", "must be 1-100 characters")
	store.RegisterConstraint("patrons_last_name_check", "patron.last_name", "must be 1-100 characters")
	store.RegisterConstraint("patrons_permanent_address_check", "patron.permanent_address", "must be 1-500 characters")
	store.RegisterConstraint("patrons_contact_address_check", "patron.contact_address", "must be 1-500 characters")
	store.RegisterConstraint("patrons_email_check", "patron.email", "invalid e-mail address")
	store.RegisterConstraint("patrons_phone_check", "patron.phone", "invalid phone number")
	store.RegisterConstraint("patrons_academic_titles_check", "patron.academic_titles", "must be 1-100 characters")
	store.RegisterConstraint("patrons_category_check", "patron.category", "invalid category")
	store.RegisterConstraint("patrons_mother_tongue_check", "patron.mother_tongue", "must be an ISO 639 code")
	store.RegisterConstraint("patrons_guardian_name_check", "patron.guardian.name", "must be 1-200 characters")
	store.RegisterConstraint("patrons_guardian_address_check", "patron.guardian.address", "must be 1-500 characters")
	store.RegisterConstraint("patrons_guardian_phone_check", "patron.guardian.phone", "invalid phone number")
	store.RegisterConstraint("patrons_guardian_email_check", "patron.guardian.email", "invalid e-mail address")
	store.RegisterConstraint("patrons_guardian_named", "patron.guardian.name", "a guardian needs a name")
	store.RegisterConstraint("patrons_special_categories_check", "patron.special_categories", "unknown special category")
	store.RegisterConstraint("patrons_optional_data_needs_consent", "patron", "optional contact data needs the patron's consent to optional data")
}

// invalid is INVALID_ARGUMENT naming the request field. msg must not
// contain the value.
func invalid(field, msg string) error { return store.InvalidField(field, msg) }

// precondition is FAILED_PRECONDITION: the request is well formed but the
// state of the patron or library does not allow it.
func precondition(kind, subject, msg string) error {
	return withDetail(codes.FailedPrecondition, msg, &errdetails.PreconditionFailure{
		Violations: []*errdetails.PreconditionFailure_Violation{{Type: kind, Subject: subject, Description: msg}},
	})
}

func withDetail(c codes.Code, msg string, detail protoadapt.MessageV1) error {
	st := status.New(c, msg)
	if d, err := st.WithDetails(detail); err == nil {
		st = d
	}
	return st.Err()
}

// errNotFound is the status of a patron that does not exist. Handlers turn
// it into PERMISSION_DENIED on reads (AIP-211).
var errNotFound = status.Error(codes.NotFound, "patron not found")
