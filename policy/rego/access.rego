# METADATA
# title: patronfed patron access policy, version 1
# description: |
#   Decides whether a subject may perform an action on a patron record and
#   which field groups of the record it may receive. Implements §2 of
#   docs/privacy-rules.md. The Go package policy applies a floor on top of
#   every decision (see policy/doc.go); this policy can only be stricter.
#
#   Written for evaluation speed (it runs on every patron read; see
#   "Performance" in policy/doc.go). In short: every rule evaluated costs,
#   and so does every set built, so an allowed decision is made of a few
#   rules whose cases OPA's rule index picks without evaluating the others.
#   Grants are one function whose definitions name their action and
#   relation, views list their cases as whole decisions with the field
#   groups and reasons already sorted, and the reasons for a denial are only
#   computed when the decision is a denial. Every object built costs too
#   (it is copied at each rule it is returned through), so the allowed
#   decision is built once, by the view. policy/testdata/access_v1.rego is
#   the same policy written plainly; the Go tests prove that both decide
#   identically.
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
# (Each staff case tests the library first: that is what fails for a
# library with no relation to the patron.)
relation := "home" if {
	input.subject.library_id == input.resource.home_library_id
	input.subject.kind == "staff"
	input.subject.library_id != ""
} else := "consent" if {
	input.subject.library_id in input.resource.consent_library_ids
	input.subject.kind == "staff"
	input.subject.library_id != ""
} else := "loan" if {
	input.subject.library_id in input.resource.active_loan_library_ids
	input.subject.kind == "staff"
	input.subject.library_id != ""
} else := "self" if {
	input.subject.kind == "patron"
	input.subject.account_id != ""
	input.subject.account_id == input.resource.patron_id
} else := "none"

# ---------------------------------------------------------------------------
# Grants: grant(action, relation) is the allowed decision for a subject with
# that relation to the patron, if it holds the permission the grant needs:
# the field groups, and the reasons (the grant's reason and the notes on the
# groups withheld). Each definition names its action and relation first, so
# OPA's rule index evaluates only the one that applies.
# ---------------------------------------------------------------------------

# patron.read (§2.1, §2.2, §2.3)

grant(action, rel) := home_view(sprintf("home library %s", [input.subject.library_id])) if {
	action == "patron.read"
	rel == "home"
	"patron.read" in input.subject.permissions
}

grant(action, rel) := consent_view(sprintf("patron consented to sharing with library %s", [input.subject.library_id])) if {
	action == "patron.read"
	rel == "consent"
	"patron.read" in input.subject.permissions
}

grant(action, rel) := active_loan_view(sprintf("active loan at %s: only the data needed to handle the loan", [input.subject.library_id])) if {
	action == "patron.read"
	rel == "loan"
	loan_permission
}

# patron.update: home library only, needs patron.write.

grant(action, rel) := home_view(sprintf("home library %s", [input.subject.library_id])) if {
	action == "patron.update"
	rel == "home"
	"patron.write" in input.subject.permissions
}

# consent.write: staff recording consent on the patron's behalf; home library
# only, needs consent.write. No field groups.

grant(action, rel) := {
	"allow": true,
	"fields": [],
	"reasons": [sprintf("home library %s records consent on the patron's behalf", [input.subject.library_id])],
} if {
	action == "consent.write"
	rel == "home"
	"consent.write" in input.subject.permissions
}

# loan.checkout: the lending library must see the patron (home or consent),
# needs loan.manage.

grant(action, rel) := loan_view(sprintf("home library %s", [input.subject.library_id])) if {
	action == "loan.checkout"
	rel == "home"
	"loan.manage" in input.subject.permissions
}

grant(action, rel) := loan_view(sprintf("patron consented to sharing with library %s", [input.subject.library_id])) if {
	action == "loan.checkout"
	rel == "consent"
	"loan.manage" in input.subject.permissions
}

# loan.read (active loans): loan.manage or patron.read, and a visible patron
# or an active loan at the subject's library.

grant(action, rel) := loan_view(sprintf("home library %s", [input.subject.library_id])) if {
	action == "loan.read"
	rel == "home"
	loan_permission
}

grant(action, rel) := loan_view(sprintf("patron consented to sharing with library %s", [input.subject.library_id])) if {
	action == "loan.read"
	rel == "consent"
	loan_permission
}

grant(action, rel) := active_loan_view(sprintf("active loan at %s", [input.subject.library_id])) if {
	action == "loan.read"
	rel == "loan"
	loan_permission
}

# fee.read: loan.manage or patron.read, and a visible patron.

grant(action, rel) := loan_view(sprintf("home library %s", [input.subject.library_id])) if {
	action == "fee.read"
	rel == "home"
	loan_permission
}

grant(action, rel) := loan_view(sprintf("patron consented to sharing with library %s", [input.subject.library_id])) if {
	action == "fee.read"
	rel == "consent"
	loan_permission
}

# The patron in the catalogue, own record only (§2.4, §4.1): every field
# group. (Relation "self" is only ever a patron's.)

grant(action, rel) := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "contact", "guardian", "id_document", "name", "national_ids", "service", "special_category"],
	"reasons": ["the patron's own record"],
} if {
	rel == "self"
	action in self_actions
}

# Either permission is enough to handle loans.
loan_permission if "loan.manage" in input.subject.permissions

loan_permission if "patron.read" in input.subject.permissions

# ---------------------------------------------------------------------------
# Views: view(reason) is the allowed decision of a grant with that reason:
# the field groups it returns, and the reasons: the grant's and the notes
# explaining the groups it withholds. Contact data is optional data: only
# with the patron's consent to optional data. The identifiers (id_document,
# national_ids) need the permission patron.identifiers, special-category
# (health) data the permission patron.special_category (§2.8).
#
# A view lists one case per combination of these conditions; the first case
# whose conditions hold applies. Field groups and reasons are listed sorted,
# as the decision returns them: each view is only given reasons with the
# same beginning, which puts them in the same place among the notes. (A case
# tests the permission most often missing first: that is what rules it
# out.)
# ---------------------------------------------------------------------------

# What the home library may see (§2.1). The reason is "home library ...".
home_view(reason) := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "contact", "guardian", "id_document", "name", "national_ids", "service", "special_category"],
	"reasons": [reason],
} if {
	"patron.special_category" in input.subject.permissions
	input.resource.optional_data_consent == true
	"patron.identifiers" in input.subject.permissions
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "contact", "guardian", "id_document", "name", "national_ids", "service"],
	"reasons": [reason, "special_category withheld: missing permission patron.special_category"],
} if {
	input.resource.optional_data_consent == true
	"patron.identifiers" in input.subject.permissions
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "contact", "guardian", "name", "service", "special_category"],
	"reasons": [reason, "id_document, national_ids withheld: missing permission patron.identifiers"],
} if {
	input.resource.optional_data_consent == true
	"patron.special_category" in input.subject.permissions
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "contact", "guardian", "name", "service"],
	"reasons": [
		reason,
		"id_document, national_ids withheld: missing permission patron.identifiers",
		"special_category withheld: missing permission patron.special_category",
	],
} if {
	input.resource.optional_data_consent == true
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "guardian", "id_document", "name", "national_ids", "service", "special_category"],
	"reasons": ["contact withheld: the patron has not consented to optional data", reason],
} if {
	"patron.special_category" in input.subject.permissions
	"patron.identifiers" in input.subject.permissions
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "guardian", "id_document", "name", "national_ids", "service"],
	"reasons": [
		"contact withheld: the patron has not consented to optional data",
		reason,
		"special_category withheld: missing permission patron.special_category",
	],
} if {
	"patron.identifiers" in input.subject.permissions
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "guardian", "name", "service", "special_category"],
	"reasons": [
		"contact withheld: the patron has not consented to optional data",
		reason,
		"id_document, national_ids withheld: missing permission patron.identifiers",
	],
} if {
	"patron.special_category" in input.subject.permissions
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "guardian", "name", "service"],
	"reasons": [
		"contact withheld: the patron has not consented to optional data",
		reason,
		"id_document, national_ids withheld: missing permission patron.identifiers",
		"special_category withheld: missing permission patron.special_category",
	],
}

# What a library the patron consents to may see (§2.2): never the
# identifiers. The reason is "patron consented ...".
consent_view(reason) := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "contact", "guardian", "name", "service", "special_category"],
	"reasons": ["id_document, national_ids are shown only to the home library", reason],
} if {
	"patron.special_category" in input.subject.permissions
	input.resource.optional_data_consent == true
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "contact", "guardian", "name", "service"],
	"reasons": [
		"id_document, national_ids are shown only to the home library",
		reason,
		"special_category withheld: missing permission patron.special_category",
	],
} if {
	input.resource.optional_data_consent == true
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "guardian", "name", "service", "special_category"],
	"reasons": [
		"contact withheld: the patron has not consented to optional data",
		"id_document, national_ids are shown only to the home library",
		reason,
	],
} if {
	"patron.special_category" in input.subject.permissions
} else := {
	"allow": true,
	"fields": ["address", "birth_date", "cards", "guardian", "name", "service"],
	"reasons": [
		"contact withheld: the patron has not consented to optional data",
		"id_document, national_ids are shown only to the home library",
		reason,
		"special_category withheld: missing permission patron.special_category",
	],
}

# Only what is needed to handle a loan (§2.3, §2.8), for a reason "home
# library ..." or "patron consented ..." ...
loan_view(reason) := {"allow": true, "fields": ["address", "cards", "contact", "name"], "reasons": [reason]} if {
	input.resource.optional_data_consent == true
} else := {
	"allow": true,
	"fields": ["address", "cards", "name"],
	"reasons": ["contact withheld: the patron has not consented to optional data", reason],
}

# ... and for a reason "active loan at ...".
active_loan_view(reason) := {"allow": true, "fields": ["address", "cards", "contact", "name"], "reasons": [reason]} if {
	input.resource.optional_data_consent == true
} else := {
	"allow": true,
	"fields": ["address", "cards", "name"],
	"reasons": [reason, "contact withheld: the patron has not consented to optional data"],
}

# ---------------------------------------------------------------------------
# Blockers: deny even when a grant applies. Every body starts with
# conditions on the input, so on an allowed decision the rule index finds
# that none applies without evaluating any.
# ---------------------------------------------------------------------------

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

# The vocabulary. No grant names an action outside it, and a subject kind
# outside it has relation "none", so these are always denials; checking them
# here rather than as blockers keeps them off allowed decisions.

denials contains sprintf("unknown action %q", [input.action]) if not input.action in actions

denials contains sprintf("unknown subject kind %q", [input.subject.kind]) if {
	not input.subject.kind in {"staff", "operator", "patron"}
}

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
# Decision
# ---------------------------------------------------------------------------

decision := g if {
	grant(input.action, relation)
	blockers == set()
	_ = input.resource.optional_data_consent

	# Evaluated again, the grant comes from the cache of this evaluation,
	# ready to be returned as it is. (The first evaluation binds the grant
	# to the definition's value, which would be copied on each return.)
	g := grant(input.action, relation)
} else := {"allow": false, "fields": [], "reasons": sort(reasons)} if {
	reasons := denials
	reasons != set()
} else := {"allow": true, "fields": g.fields, "reasons": reasons} if {
	# A resource without optional_data_consent at all (Decide always sends
	# it): contact data is withheld without the note, since the consent is
	# unknown rather than refused. (When a grant applies, no denial does.)
	g := grant(input.action, relation)
	blockers == set()
	reasons := [r | some r in g.reasons; r != "contact withheld: the patron has not consented to optional data"]
} else := {"allow": false, "fields": [], "reasons": [sprintf("no rule allows %s", [input.action])]}
