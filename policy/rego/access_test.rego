package patronfed.access_test

import data.patronfed.access

# ---------------------------------------------------------------------------
# Fixtures: patron p1 belongs to L1, consents to L2, has an active loan at L3.
# ---------------------------------------------------------------------------

record := {
	"patron_id": "p1",
	"home_library_id": "L1",
	"consent_library_ids": ["L2"],
	"active_loan_library_ids": ["L3"],
	"optional_data_consent": true,
	"archived": false,
}

no_optional := object.union(record, {"optional_data_consent": false})

archived_record := object.union(record, {"archived": true})

all_permissions := [
	"patron.read",
	"patron.write",
	"patron.identifiers",
	"patron.special_category",
	"consent.write",
	"loan.manage",
	"library.manage",
]

staff(lib, perms) := {"kind": "staff", "account_id": "s1", "library_id": lib, "permissions": perms}

operator := {"kind": "operator", "account_id": "op1", "library_id": "", "permissions": all_permissions}

patron(id) := {"kind": "patron", "account_id": id, "library_id": "", "permissions": []}

decide(subject, act, res) := d if {
	d := access.decision with input as {"subject": subject, "action": act, "resource": res}
}

denied(d) if {
	d.allow == false
	d.fields == []
}

no_consent_l9 := "patron has not consented to sharing with library L9; the patron can give consent to library L9"

# ---------------------------------------------------------------------------
# Rule 1: home library staff
# ---------------------------------------------------------------------------

test_home_read_record if {
	d := decide(staff("L1", ["patron.read"]), "patron.read", record)
	d.allow
	d.fields == ["address", "birth_date", "cards", "contact", "guardian", "name", "service"]
	"home library L1" in d.reasons
	"id_document, national_ids withheld: missing permission patron.identifiers" in d.reasons
	"special_category withheld: missing permission patron.special_category" in d.reasons
}

test_home_read_contact_needs_optional_consent if {
	d := decide(staff("L1", ["patron.read"]), "patron.read", no_optional)
	d.allow
	not "contact" in d.fields
	"contact withheld: the patron has not consented to optional data" in d.reasons
}

test_home_read_identifiers_need_permission if {
	d := decide(staff("L1", ["patron.read", "patron.identifiers"]), "patron.read", record)
	d.allow
	"id_document" in d.fields
	"national_ids" in d.fields
	not "special_category" in d.fields
}

test_home_read_special_category_needs_permission if {
	d := decide(staff("L1", ["patron.read", "patron.special_category"]), "patron.read", record)
	d.allow
	"special_category" in d.fields
	not "id_document" in d.fields
	not "national_ids" in d.fields
}

test_home_read_all_permissions if {
	d := decide(staff("L1", all_permissions), "patron.read", record)
	d.allow
	d.fields == sort(access.all_groups)
	d.reasons == ["home library L1"]
}

test_home_read_missing_permission if {
	d := decide(staff("L1", ["loan.manage"]), "patron.read", record)
	denied(d)
	d.reasons == ["missing permission patron.read"]
}

# ---------------------------------------------------------------------------
# Rule 2: another library, with consent
# ---------------------------------------------------------------------------

test_consent_read_record if {
	d := decide(staff("L2", ["patron.read"]), "patron.read", record)
	d.allow
	d.fields == ["address", "birth_date", "cards", "contact", "guardian", "name", "service"]
	"patron consented to sharing with library L2" in d.reasons
	"id_document, national_ids are shown only to the home library" in d.reasons
}

test_consent_read_never_identifiers if {
	d := decide(staff("L2", all_permissions), "patron.read", record)
	d.allow
	not "id_document" in d.fields
	not "national_ids" in d.fields
	"special_category" in d.fields
}

test_consent_read_no_optional_consent if {
	d := decide(staff("L2", ["patron.read"]), "patron.read", no_optional)
	d.allow
	not "contact" in d.fields
}

test_consent_read_missing_permission if {
	d := decide(staff("L2", ["loan.manage"]), "patron.read", record)
	denied(d)
	d.reasons == ["missing permission patron.read"]
}

test_consent_withdrawn if {
	withdrawn := object.union(record, {"consent_library_ids": []})
	d := decide(staff("L2", ["patron.read"]), "patron.read", withdrawn)
	denied(d)
	d.reasons == ["patron has not consented to sharing with library L2; the patron can give consent to library L2"]
}

# ---------------------------------------------------------------------------
# Rule 3: active loan at the subject's library, no consent
# ---------------------------------------------------------------------------

test_active_loan_read_with_loan_manage if {
	d := decide(staff("L3", ["loan.manage"]), "patron.read", record)
	d.allow
	d.fields == ["address", "cards", "contact", "name"]
	d.reasons == ["active loan at L3: only the data needed to handle the loan"]
}

test_active_loan_read_with_patron_read if {
	d := decide(staff("L3", all_permissions), "patron.read", record)
	d.allow
	d.fields == ["address", "cards", "contact", "name"]
}

test_active_loan_read_no_optional_consent if {
	d := decide(staff("L3", ["loan.manage"]), "patron.read", no_optional)
	d.allow
	d.fields == ["address", "cards", "name"]
}

test_active_loan_read_missing_permission if {
	d := decide(staff("L3", ["library.manage"]), "patron.read", record)
	denied(d)
	d.reasons == ["missing permission loan.manage or patron.read"]
}

test_active_loan_and_consent_gets_consent_view if {
	both := object.union(record, {"consent_library_ids": ["L3"]})
	d := decide(staff("L3", ["patron.read"]), "patron.read", both)
	d.allow
	"birth_date" in d.fields
	"patron consented to sharing with library L3" in d.reasons
}

test_active_loan_read_loans if {
	d := decide(staff("L3", ["loan.manage"]), "loan.read", record)
	d.allow
	d.reasons == ["active loan at L3"]
}

test_active_loan_does_not_allow_checkout if {
	d := decide(staff("L3", ["loan.manage"]), "loan.checkout", record)
	denied(d)
	d.reasons == ["patron has not consented to sharing with library L3; the patron can give consent to library L3"]
}

test_active_loan_does_not_allow_fees if {
	d := decide(staff("L3", ["loan.manage"]), "fee.read", record)
	denied(d)
}

# ---------------------------------------------------------------------------
# Rule 4: operator
# ---------------------------------------------------------------------------

test_operator_always_denied if {
	every act in access.actions {
		d := decide(operator, act, record)
		denied(d)
		d.reasons == ["the consortium operator never reads patron records"]
	}
}

# ---------------------------------------------------------------------------
# Rule 5: loan history
# ---------------------------------------------------------------------------

test_loan_history_denied_to_home_staff if {
	d := decide(staff("L1", all_permissions), "loan_history.read", record)
	denied(d)
	d.reasons == ["loan history is visible only to the patron, in their own account"]
}

test_loan_history_denied_to_other_staff if {
	every lib in ["L2", "L3", "L9"] {
		denied(decide(staff(lib, all_permissions), "loan_history.read", record))
	}
}

test_loan_history_denied_to_operator if {
	denied(decide(operator, "loan_history.read", record))
}

# ---------------------------------------------------------------------------
# Rule 6: missing permission and missing relation
# ---------------------------------------------------------------------------

test_no_relation_reason_is_actionable if {
	d := decide(staff("L9", ["patron.read", "loan.manage"]), "patron.read", record)
	denied(d)
	d.reasons == [no_consent_l9]
}

test_no_relation_checkout if {
	d := decide(staff("L9", ["loan.manage"]), "loan.checkout", record)
	denied(d)
	d.reasons == [no_consent_l9]
}

test_no_relation_and_missing_permission if {
	d := decide(staff("L9", []), "patron.read", record)
	denied(d)
	d.reasons == ["missing permission patron.read", no_consent_l9]
}

test_missing_permission_per_action if {
	cases := [
		["patron.update", "missing permission patron.write"],
		["consent.write", "missing permission consent.write"],
		["loan.checkout", "missing permission loan.manage"],
		["loan.read", "missing permission loan.manage or patron.read"],
		["fee.read", "missing permission loan.manage or patron.read"],
	]
	every c in cases {
		d := decide(staff("L1", ["library.manage"]), c[0], record)
		denied(d)
		d.reasons == [c[1]]
	}
}

test_staff_without_library if {
	d := decide(staff("", all_permissions), "patron.read", object.union(record, {"home_library_id": ""}))
	denied(d)
	"staff account has no library" in d.reasons
}

# ---------------------------------------------------------------------------
# Other staff actions
# ---------------------------------------------------------------------------

test_update_home_only if {
	d := decide(staff("L1", ["patron.write"]), "patron.update", record)
	d.allow
	"name" in d.fields
	not "id_document" in d.fields

	o := decide(staff("L2", all_permissions), "patron.update", record)
	denied(o)
	o.reasons == ["only staff of the patron's home library can update the patron record"]
}

test_consent_write_home_only if {
	d := decide(staff("L1", ["consent.write"]), "consent.write", record)
	d.allow
	d.fields == []
	d.reasons == ["home library L1 records consent on the patron's behalf"]

	o := decide(staff("L2", all_permissions), "consent.write", record)
	denied(o)
	o.reasons == ["only staff of the patron's home library can record consent on the patron's behalf"]
}

test_checkout_home_and_consent if {
	every lib in ["L1", "L2"] {
		d := decide(staff(lib, ["loan.manage"]), "loan.checkout", record)
		d.allow
		d.fields == ["address", "cards", "contact", "name"]
	}
}

test_loan_and_fee_read_visible if {
	every act in ["loan.read", "fee.read"] {
		every lib in ["L1", "L2"] {
			d := decide(staff(lib, ["patron.read"]), act, record)
			d.allow
			d.fields == ["address", "cards", "contact", "name"]
		}
	}
}

# ---------------------------------------------------------------------------
# Archived accounts: only a home-library read
# ---------------------------------------------------------------------------

test_archived_home_read_allowed if {
	d := decide(staff("L1", ["patron.read"]), "patron.read", archived_record)
	d.allow
}

test_archived_everything_else_denied if {
	reason := "patron account is archived and not usable for service: only the home library can read it"
	every c in [["L2", "patron.read"], ["L3", "patron.read"], ["L1", "patron.update"], ["L1", "loan.checkout"], ["L1", "consent.write"], ["L1", "loan.read"], ["L1", "fee.read"]] {
		d := decide(staff(c[0], all_permissions), c[1], archived_record)
		denied(d)
		reason in d.reasons
	}
}

# ---------------------------------------------------------------------------
# Rule 7: the patron in the catalogue
# ---------------------------------------------------------------------------

test_patron_own_record_all_groups if {
	every act in ["patron.read", "loan_history.read", "loan.read", "fee.read"] {
		d := decide(patron("p1"), act, no_optional)
		d.allow
		d.fields == sort(access.all_groups)
		d.reasons == ["the patron's own record"]
	}
}

test_patron_other_record_denied if {
	every act in access.actions {
		d := decide(patron("p2"), act, record)
		denied(d)
		d.reasons == ["a patron may only see their own record"]
	}
}

test_patron_own_record_write_denied if {
	d := decide(patron("p1"), "patron.update", record)
	denied(d)
	d.reasons == ["a patron may not perform patron.update through the catalogue"]
}

test_patron_empty_account_id_denied if {
	denied(decide(patron(""), "patron.read", object.union(record, {"patron_id": ""})))
}

# ---------------------------------------------------------------------------
# Fail closed
# ---------------------------------------------------------------------------

test_unknown_action_denied if {
	d := decide(staff("L1", all_permissions), "patron.delete", record)
	denied(d)
	d.reasons == ["unknown action \"patron.delete\""]
}

test_unknown_kind_denied if {
	d := decide({"kind": "robot", "account_id": "p1", "library_id": "L1", "permissions": all_permissions}, "patron.read", record)
	denied(d)
	d.reasons == ["unknown subject kind \"robot\""]
}

test_malformed_input_denied if {
	d := access.decision with input as {"subject": {"kind": "staff", "permissions": ["patron.read"]}, "action": "patron.read", "resource": record}
	denied(d)
	d.reasons == ["no rule allows patron.read"]
}
