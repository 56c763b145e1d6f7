package identity_test

import (
	"slices"
	"testing"

	"github.com/patronfed/patronfed/identity"
)

// TestSpecialCategoryHasItsOwnRole (privacy-rules §2.8: only staff who
// need personal data get it; special-category data needs its own
// permission): patron.special_category comes from the special_category
// role alone, which grants nothing else; the ID document and national
// identifiers come only with registrar or manager, never with
// circulation; unknown roles grant nothing.
func TestSpecialCategoryHasItsOwnRole(t *testing.T) {
	t.Parallel()
	roles := []string{identity.RoleCirculation, identity.RoleRegistrar, identity.RoleManager, identity.RoleSpecialCategory}
	for _, r := range roles {
		if !identity.ValidRole(r) {
			t.Errorf("role %s is not valid", r)
		}
		perms := identity.Permissions([]string{r})
		if got := slices.Contains(perms, identity.PermSpecialCategory); got != (r == identity.RoleSpecialCategory) {
			t.Errorf("role %s grants patron.special_category: %v", r, got)
		}
		if got := slices.Contains(perms, identity.PermIdentifiers); got != (r == identity.RoleRegistrar || r == identity.RoleManager) {
			t.Errorf("role %s grants patron.identifiers: %v", r, got)
		}
	}
	if p := identity.Permissions([]string{identity.RoleSpecialCategory}); !slices.Equal(p, []string{identity.PermSpecialCategory}) {
		t.Errorf("special_category role grants %v, want only %s", p, identity.PermSpecialCategory)
	}
	// All the other roles together still do not imply it.
	if slices.Contains(identity.Permissions([]string{identity.RoleCirculation, identity.RoleRegistrar, identity.RoleManager}), identity.PermSpecialCategory) {
		t.Error("special-category access is implied by other roles")
	}
	if p := identity.Permissions([]string{"admin", "operator", ""}); len(p) != 0 || identity.ValidRole("admin") {
		t.Errorf("unknown roles grant %v", p)
	}
}
