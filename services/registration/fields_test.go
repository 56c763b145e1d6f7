package registration_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestRequiredAndOptionalFields (privacy-rules §1 "self-registration
// request": name and address required; phone, e-mail and username
// optional): a request with only the required fields is accepted and
// stores nothing else; each required field missing is refused with its
// name; the optional ones are kept when given.
func TestRequiredAndOptionalFields(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	minimal := map[string]any{"libraryCode": "SLAV", "firstName": "Ota", "lastName": "Malý", "address": "Náměstí 2, Slavonice"}
	code, out, _ := submit(t, s, "192.0.2.1", minimal)
	if code != http.StatusOK {
		t.Fatalf("required fields only: %d %v", code, out)
	}
	var phone, email, username *string
	if err := s.DB.QueryRow(bg, `SELECT phone, email, username FROM self_registrations WHERE id = $1`, out["registrationId"]).
		Scan(&phone, &email, &username); err != nil {
		t.Fatal(err)
	}
	if phone != nil || email != nil || username != nil {
		t.Errorf("optional fields stored although not given: %v %v %v", phone, email, username)
	}
	for i, field := range []string{"firstName", "lastName", "address"} {
		body := map[string]any{}
		for k, v := range minimal {
			if k != field {
				body[k] = v
			}
		}
		code, out, _ := submit(t, s, "192.0.2."+string(rune('2'+i)), body)
		if code != http.StatusBadRequest || !strings.Contains(toJSON(out), snake(field)) {
			t.Errorf("without %s: %d %v, want 400 naming the field", field, code, out)
		}
	}
	full := map[string]any{"phone": "+420 384 000 111", "email": "ota.maly@example.cz", "username": "ota.maly"}
	for k, v := range minimal {
		full[k] = v
	}
	code, out, _ = submit(t, s, "192.0.2.9", full)
	if code != http.StatusOK {
		t.Fatalf("with optional fields: %d %v", code, out)
	}
	fullID := out["registrationId"]
	list, err := pb.NewRegistrationServiceClient(s.Conn).ListRegistrations(testserver.Ctx(s.Login(t, "slav.reg")), &pb.ListRegistrationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetRegistrations()) != 2 {
		t.Fatalf("pending requests %v, want 2", list.GetRegistrations())
	}
	for _, r := range list.GetRegistrations() {
		optional := []string{r.GetPhone(), r.GetEmail(), r.GetUsername()}
		want := []string{"", "", ""}
		if r.GetId() == fullID {
			want = []string{"+420 384 000 111", "ota.maly@example.cz", "ota.maly"}
		}
		if !slices.Equal(optional, want) {
			t.Errorf("request %s: phone, e-mail, username %q, want %q", r.GetId(), optional, want)
		}
	}
}

func snake(camel string) string {
	var b strings.Builder
	for _, r := range camel {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
