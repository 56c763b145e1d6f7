package pagetoken

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRoundTrip(t *testing.T) {
	if n, err := ParseInt(Int(42)); n != 42 || err != nil {
		t.Fatalf("int: %d %v", n, err)
	}
	if s, err := ParseString(String("abc-1")); s != "abc-1" || err != nil {
		t.Fatalf("string: %q %v", s, err)
	}
	if Int(0) != "" || String("") != "" {
		t.Fatal("empty cursor must be no token")
	}
	if n, err := ParseInt(""); n != 0 || err != nil {
		t.Fatal("empty token is the first page")
	}
	for _, bad := range []string{"garbage!", String("x"), String("-3")} {
		if _, err := ParseInt(bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if Size(0, 50) != 50 || Size(7, 50) != 7 {
		t.Fatal("Size")
	}
}
