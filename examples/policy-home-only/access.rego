package patronfed.access

# Home-library staff only, and only what a loan desk needs.
decision := {"allow": true, "fields": ["name", "cards"], "reasons": ["home library only"]} if {
	input.subject.kind == "staff"
	input.subject.library_id == input.resource.home_library_id
} else := {"allow": false, "fields": [], "reasons": ["home library only"]}
