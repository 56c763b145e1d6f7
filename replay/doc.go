// Package replay runs a candidate policy over recently audited decisions
// (a dry run): each audit_log row keeps the policy input it was decided on,
// so the candidate can decide it again, floor included, and the decisions
// that would change (allow→deny, deny→allow, different field groups) are
// listed with the reasons on both sides. Nothing is written.
package replay
