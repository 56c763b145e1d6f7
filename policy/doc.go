// Package policy decides whether a caller may see a patron, which field
// groups of the patron record may be returned, and why.
//
// The rules are written in Rego (OPA v1 syntax) and evaluated in-process.
// The built-in policy, version 1 of the product, is embedded from
// policy/rego (see Builtin); it implements §2 of docs/privacy-rules.md.
// Library consortia may later upload their own bundles: Validate compiles a
// bundle in strict mode and reports problems with file:line, RunTests runs
// the bundle's *_test.rego files, and Engine.Swap replaces the running policy
// atomically, keeping the old one if the new one does not compile.
//
// # Contract for a bundle
//
// A bundle must define data.patronfed.access.decision as an object
//
//	{"allow": boolean, "fields": [string], "reasons": [string]}
//
// evaluated against the input document
//
//	{
//	  "subject":  {"kind": "staff"|"operator"|"patron", "account_id": string,
//	               "library_id": string, "permissions": [string]},
//	  "action":   string,
//	  "resource": {"patron_id": string, "home_library_id": string,
//	               "consent_library_ids": [string], "active_loan_library_ids": [string],
//	               "optional_data_consent": boolean, "archived": boolean}
//	}
//
// An undefined decision is a denial. A malformed one is a denial and an
// error. Bundles are compiled in strict mode, and may not call http.send,
// net.lookup_ip_addr or opa.runtime: a policy sees patron data on every read
// and must not be able to send it anywhere or read the server environment.
//
// # The floor
//
// A policy decides, but it does not have the last word. Every decision that
// Engine.Decide returns, from any bundle, has passed through Floor, which is
// written in Go, outside Rego, so that no uploaded policy can remove it. A
// policy can be stricter than the floor; it can never be more permissive.
// The floor is the part of the privacy rules that must hold whatever a
// consortium configures:
//
//   - (a) Loan history (action loan_history.read) is never allowed to staff
//     or the operator: once a loan is returned only the patron sees it, in
//     their own account (privacy rules §2.4). Floor allows it only to a
//     patron subject whose account is the patron.
//   - (b) id_document and national_ids are never returned to staff of a
//     library other than the patron's home library (§1, §2.2). Floor keeps
//     them only for staff of the home library and for the patron themselves,
//     so the operator, other patrons and unknown subject kinds never get
//     them either.
//   - (c) The consortium operator is never allowed anything on patron data
//     (§2.6): it administers the system, it does not read patron records.
//   - (d) A denied decision returns no fields.
//   - (e) Field-group names the product does not know are dropped, so a
//     policy cannot invent a group that some handler might map to data.
//
// Whenever Floor changes a decision it appends a reason starting with
// "floor: ", after the policy's own reasons, so that an audit shows both what
// the policy said and what the floor overrode. Floor also normalises the
// decision: policy reasons sorted and de-duplicated, fields de-duplicated and
// in the canonical order of FieldGroups.
//
// Things the floor deliberately does not cover, because they are policy and
// may vary per consortium: which permissions a relation needs, consent,
// active-loan visibility, optional-data consent, special-category data and
// archived accounts. The built-in policy handles those, and its tests
// (rego/access_test.rego and policy_test.go) prove it.
//
// # Performance
//
// Decide is on every patron read. The bundle and the query are compiled
// once per bundle (NewEngine, Swap) and evaluated with OPA's topdown
// evaluator directly, without the rego package's per-call context and
// result set. Decide builds the input directly as an ast.Value, in objects
// reused from one decision to the next (inputDoc), with shared terms for
// the strings of the vocabulary and for library ids and lists, which
// repeat; it decodes the result straight from the ast into one slice that
// Floor then works in, skipping OPA's map[string]any conversions in both
// directions. The
// evaluation runs on the caller's goroutine after growStack has made room
// for its deep recursion while the stack is still shallow (a bundle whose
// evaluations keep outgrowing that room is moved to worker goroutines whose
// stacks stay grown; see eval.go); cancellation is wired with
// context.AfterFunc rather than a goroutine per evaluation; and evaluated
// rules are cached in a short list (flatCache) rather than OPA's trie of
// hash maps.
//
// Most of the cost is Rego evaluation itself: roughly, every rule or
// function evaluated, every built-in called and every set built costs a
// microsecond or two, while conditions on the input that OPA's rule index
// can test (input.x == "v", "v" in input.xs, an argument of a function
// equal to a constant) cost next to nothing for the rule bodies they rule
// out. The built-in policy is written for that: a grant is a function of
// (action, relation) whose definitions the index picks from, the views list
// their cases as whole decisions, field groups and reasons already sorted,
// instead of building and sorting sets and arrays (a value built from
// variables is copied by every rule that returns it, so the allowed
// decision is built once and then read from the evaluation's cache),
// blockers are found by the index alone on an allowed
// decision, and the reasons for a denial are only computed when the
// decision is a denial. testdata/access_v1.rego is the same policy written
// plainly; TestBuiltinDecidesLikeV1 proves that both decide identically,
// and TestDecisionEvents (go test -v) counts evaluation events, a measure
// of the cost that does not depend on the machine. Engine is safe for
// concurrent use.
package policy
