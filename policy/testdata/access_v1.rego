# Version 1 of policy/rego/access.rego as it was before it was rewritten
# for speed, kept as the plainly written reference: policy/equivalence_test.go
# proves that the built-in policy decides exactly as this one does. A
# deliberate change of the policy's decisions is made in both files.

# METADATA
# title: patronfed patron access policy, version 1
# description: |
#   Decides whether a subject may perform an action on a patron record and
#   which field groups of the record it may receive. Implements §2 of
#   docs/privacy-rules.md. The Go package policy applies a floor on top of
#   every decision (see policy/doc.go); this policy can only be stricter.
#
#   Written for evaluation speed (it runs on every patron read): rule bodies
#   start with input.action == "..." or input.subject.kind == "..." so that
#   OPA's rule index skips the rules of other actions, and the reasons for
#   a denial are only computed when the decision is a denial.
package patronfed.access

# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

actions := {
	"patron.read",
	"patron.update",
	"consent.write",
	"loan.checkout",
	"loan.read",
	"loan_history.read",
	"fee.read",
}

all_groups := {
	"name",
	"birth_date",
	"address",
	"cards",
	"service",
	"contact",
	"guardian",
	"id_document",
	"national_ids",
	"special_category",
}

# The actions a patron may perform on their own record through the catalogue.
self_actions := {"patron.read", "loan_history.read", "loan.read", "fee.read"}

# ---------------------------------------------------------------------------
# Relation of the subject to the patron
# ---------------------------------------------------------------------------

# Relation of a staff subject's library to the patron, strongest first:
# "home" (§2.1), "consent" (§2.2), "loan": an active loan there but no
# consent (§2.3), "self" for a patron reading their own record, or "none".
relation := "home" if {
	input.subject.kind == "staff"
	input.subject.library_id != ""
	input.subject.library_id == input.resource.home_library_id
} else := "consent" if {
	input.subject.kind == "staff"
	input.subject.library_id != ""
	input.subject.library_id in input.resource.consent_library_ids
} else := "loan" if {
	input.subject.kind == "staff"
	input.subject.library_id != ""
	input.subject.library_id in input.resource.active_loan_library_ids
} else := "self" if {
	input.subject.kind == "patron"
	input.subject.account_id != ""
	input.subject.account_id == input.resource.patron_id
} else := "none"

# ---------------------------------------------------------------------------
# Field groups
# ---------------------------------------------------------------------------

# Optional contact data only with the patron's consent to optional data.
contact := {"contact"} if {
	input.resource.optional_data_consent == true
} else := set()

# ID document and national identifiers: home library, patron.identifiers.
identifiers := {"id_document", "national_ids"} if {
	"patron.identifiers" in input.subject.permissions
} else := set()

# Health-related data has its own permission (§2.8).
special := {"special_category"} if {
	"patron.special_category" in input.subject.permissions
} else := set()

# What the home library may see.
home_view := (({"name", "birth_date", "address", "cards", "service", "guardian"} | contact) | identifiers) | special

# What a library the patron consents to may see: never the identifiers.
consent_view := ({"name", "birth_date", "address", "cards", "service", "guardian"} | contact) | special

# Only what is needed to handle a loan (§2.3, §2.8).
loan_view := {"name", "address", "cards"} | contact

# ---------------------------------------------------------------------------
# Grants: at most one applies; it carries the reason and the field groups.
# ---------------------------------------------------------------------------

# patron.read (§2.1, §2.2, §2.3)

grant := {"reason": sprintf("home library %s", [input.subject.library_id]), "fields": home_view} if {
	input.action == "patron.read"
	relation == "home"
	"patron.read" in input.subject.permissions
}

grant := {"reason": sprintf("patron consented to sharing with library %s", [input.subject.library_id]), "fields": consent_view} if {
	input.action == "patron.read"
	relation == "consent"
	"patron.read" in input.subject.permissions
}

grant := {
	"reason": sprintf("active loan at %s: only the data needed to handle the loan", [input.subject.library_id]),
	"fields": loan_view,
} if {
	input.action == "patron.read"
	relation == "loan"
	loan_permission
}

# patron.update: home library only, needs patron.write.

grant := {"reason": sprintf("home library %s", [input.subject.library_id]), "fields": home_view} if {
	input.action == "patron.update"
	relation == "home"
	"patron.write" in input.subject.permissions
}

# consent.write: staff recording consent on the patron's behalf; home library
# only, needs consent.write. No field groups.

grant := {"reason": sprintf("home library %s records consent on the patron's behalf", [input.subject.library_id]), "fields": set()} if {
	input.action == "consent.write"
	relation == "home"
	"consent.write" in input.subject.permissions
}

# loan.checkout: the lending library must see the patron (home or consent),
# needs loan.manage.

grant := {"reason": sprintf("home library %s", [input.subject.library_id]), "fields": loan_view} if {
	input.action == "loan.checkout"
	relation == "home"
	"loan.manage" in input.subject.permissions
}

grant := {"reason": sprintf("patron consented to sharing with library %s", [input.subject.library_id]), "fields": loan_view} if {
	input.action == "loan.checkout"
	relation == "consent"
	"loan.manage" in input.subject.permissions
}

# loan.read (active loans): loan.manage or patron.read, and a visible patron
# or an active loan at the subject's library.

grant := {"reason": sprintf("home library %s", [input.subject.library_id]), "fields": loan_view} if {
	input.action == "loan.read"
	relation == "home"
	loan_permission
}

grant := {"reason": sprintf("patron consented to sharing with library %s", [input.subject.library_id]), "fields": loan_view} if {
	input.action == "loan.read"
	relation == "consent"
	loan_permission
}

grant := {"reason": sprintf("active loan at %s", [input.subject.library_id]), "fields": loan_view} if {
	input.action == "loan.read"
	relation == "loan"
	loan_permission
}

# fee.read: loan.manage or patron.read, and a visible patron.

grant := {"reason": sprintf("home library %s", [input.subject.library_id]), "fields": loan_view} if {
	input.action == "fee.read"
	relation == "home"
	loan_permission
}

grant := {"reason": sprintf("patron consented to sharing with library %s", [input.subject.library_id]), "fields": loan_view} if {
	input.action == "fee.read"
	relation == "consent"
	loan_permission
}

# The patron in the catalogue, own record only (§2.4, §4.1).

grant := {"reason": "the patron's own record", "fields": all_groups} if {
	input.subject.kind == "patron"
	relation == "self"
	input.action in self_actions
}

# Either permission is enough to handle loans.
loan_permission if "loan.manage" in input.subject.permissions

loan_permission if "patron.read" in input.subject.permissions

# ---------------------------------------------------------------------------
# Blockers: deny even when a grant applies.
# ---------------------------------------------------------------------------

blockers contains sprintf("unknown action %q", [input.action]) if not input.action in actions

blockers contains sprintf("unknown subject kind %q", [input.subject.kind]) if {
	not input.subject.kind in {"staff", "operator", "patron"}
}

# §2.6
blockers contains "the consortium operator never reads patron records" if input.subject.kind == "operator"

# §2.4: returned loans are history; only the patron sees it.
blockers contains "loan history is visible only to the patron, in their own account" if {
	input.subject.kind == "staff"
	input.action == "loan_history.read"
}

blockers contains "staff account has no library" if {
	input.subject.kind == "staff"
	input.subject.library_id == ""
}

# Retention (§3): archived accounts are not usable for service; only the home
# library may still read the record.
blockers contains "patron account is archived and not usable for service: only the home library can read it" if {
	input.subject.kind == "staff"
	input.resource.archived == true
	not archived_read
}

archived_read if {
	input.action == "patron.read"
	relation == "home"
}

# ---------------------------------------------------------------------------
# Denials: why no grant applies. Grants already require the permission and
# the relation, so these are only evaluated to explain a denial.
# ---------------------------------------------------------------------------

denials contains reason if some reason in blockers

# Missing permissions.

denials contains "missing permission patron.read" if {
	input.action == "patron.read"
	input.subject.kind == "staff"
	relation != "loan"
	not "patron.read" in input.subject.permissions
}

denials contains "missing permission loan.manage or patron.read" if {
	input.action == "patron.read"
	relation == "loan"
	not loan_permission
}

denials contains "missing permission patron.write" if {
	input.action == "patron.update"
	input.subject.kind == "staff"
	not "patron.write" in input.subject.permissions
}

denials contains "missing permission consent.write" if {
	input.action == "consent.write"
	input.subject.kind == "staff"
	not "consent.write" in input.subject.permissions
}

denials contains "missing permission loan.manage" if {
	input.action == "loan.checkout"
	input.subject.kind == "staff"
	not "loan.manage" in input.subject.permissions
}

denials contains "missing permission loan.manage or patron.read" if {
	input.action in {"loan.read", "fee.read"}
	input.subject.kind == "staff"
	not loan_permission
}

# Missing relation. This reason is shown to staff at checkout: it says what
# to do.

denials contains no_consent_reason if {
	input.action in {"patron.read", "loan.read"}
	input.subject.kind == "staff"
	input.subject.library_id != ""
	relation == "none"
}

denials contains no_consent_reason if {
	input.action in {"loan.checkout", "fee.read"}
	input.subject.kind == "staff"
	input.subject.library_id != ""
	relation in {"loan", "none"}
}

no_consent_reason := sprintf(
	"patron has not consented to sharing with library %s; the patron can give consent to library %s",
	[input.subject.library_id, input.subject.library_id],
)

denials contains "only staff of the patron's home library can update the patron record" if {
	input.action == "patron.update"
	input.subject.kind == "staff"
	relation != "home"
}

denials contains "only staff of the patron's home library can record consent on the patron's behalf" if {
	input.action == "consent.write"
	input.subject.kind == "staff"
	relation != "home"
}

# Patrons.

denials contains "a patron may only see their own record" if {
	input.subject.kind == "patron"
	relation != "self"
}

denials contains sprintf("a patron may not perform %s through the catalogue", [input.action]) if {
	input.subject.kind == "patron"
	relation == "self"
	input.action in actions
	not input.action in self_actions
}

# ---------------------------------------------------------------------------
# Notes explaining field groups withheld from an allowed decision.
# ---------------------------------------------------------------------------

notes contains "contact withheld: the patron has not consented to optional data" if {
	input.subject.kind == "staff"
	input.resource.optional_data_consent != true
	count(grant.fields) > 0
}

notes contains "id_document, national_ids withheld: missing permission patron.identifiers" if {
	input.action in {"patron.read", "patron.update"}
	relation == "home"
	not "patron.identifiers" in input.subject.permissions
}

notes contains "id_document, national_ids are shown only to the home library" if {
	input.action == "patron.read"
	relation == "consent"
}

notes contains "special_category withheld: missing permission patron.special_category" if {
	input.action in {"patron.read", "patron.update"}
	relation in {"home", "consent"}
	not "patron.special_category" in input.subject.permissions
}

# ---------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------

decision := {"allow": true, "fields": sort(grant.fields), "reasons": sort({grant.reason} | notes)} if {
	grant
	count(blockers) == 0
} else := {"allow": false, "fields": [], "reasons": sort(denials)} if {
	count(denials) > 0
} else := {"allow": false, "fields": [], "reasons": [sprintf("no rule allows %s", [input.action])]}
