package opacloans_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// The patron reserves items in the catalogue, for pickup only at a library
// that can lend to them: the home library or one they share data with.
func TestPlaceMyReservation(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	p := circtest.NewPatron(t, s, "BRNO", "B7002", "Petra", "Šťastná")
	brno, slav := s.LibraryID(t, "BRNO"), s.LibraryID(t, "SLAV")
	tok := s.PatronLogin(t, p.Card)
	me := pb.NewOpacLoanServiceClient(s.Conn)
	ctx := testserver.Ctx(tok)
	reservations := func() (n int) {
		t.Helper()
		if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM reservations WHERE patron_id = $1 AND status = 'active'`, p.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The pickup library's reservation_days sets the expiry.
	mgr := testserver.Ctx(s.Login(t, "brno.manager"))
	if _, err := pb.NewSettingsServiceClient(s.Conn).UpdateLibrarySettings(mgr, &pb.UpdateLibrarySettingsRequest{
		LibraryId: brno, ReservationDays: proto.Int32(5)}); err != nil {
		t.Fatal(err)
	}

	// Over REST, no pickup given: the owning library (the home library).
	req := map[string]any{"requestId": circtest.ReqID(), "itemBarcode": "BRNO-0004"}
	code, body := s.HTTP(t, "POST", "/v1/me/reservations", tok, req)
	if code != 200 {
		t.Fatalf("reserve: %d %v", code, body)
	}
	first := body["reservation"].(map[string]any)
	if first["pickupLibraryId"] != brno || first["patron"] != nil {
		t.Errorf("reservation %v: want pickup at BRNO and no patron block in the patron's own view", first)
	}
	if exp, err := time.Parse(time.RFC3339Nano, first["expireTime"].(string)); err != nil || !exp.Equal(s.Clock.Now().AddDate(0, 0, 5)) {
		t.Errorf("expire time %v (%v), want %v (BRNO's 5 reservation days)", first["expireTime"], err, s.Clock.Now().AddDate(0, 0, 5))
	}
	if code, again := s.HTTP(t, "POST", "/v1/me/reservations", tok, req); code != 200 || again["reservation"].(map[string]any)["id"] != first["id"] {
		t.Errorf("retry: %d %v, want the first reservation", code, again)
	}
	if n := reservations(); n != 1 {
		t.Errorf("active reservations after a request and its retry = %d, want 1", n)
	}

	// Slavonice cannot lend to the patron without consent: not as an
	// explicit pickup, and the default falls back to the home library.
	_, err := me.PlaceMyReservation(ctx, &pb.PlaceMyReservationRequest{RequestId: circtest.ReqID(), Target: &pb.PlaceMyReservationRequest_ItemBarcode{ItemBarcode: "SLAV-0002"}, PickupLibraryId: slav})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); msg == "" {
		t.Error("pickup at a library without consent: no reason given")
	}
	r, err := me.PlaceMyReservation(ctx, &pb.PlaceMyReservationRequest{RequestId: circtest.ReqID(), Target: &pb.PlaceMyReservationRequest_ItemBarcode{ItemBarcode: "SLAV-0002"}})
	if err != nil || r.GetReservation().GetPickupLibraryId() != brno {
		t.Fatalf("SLAV item without pickup: %v, %v; want pickup at the home library", r, err)
	}
	if _, err := me.CancelMyReservation(ctx, &pb.CancelMyReservationRequest{ReservationId: r.GetReservation().GetId()}); err != nil {
		t.Fatal(err)
	}

	// Once the patron shares data with Slavonice, it can be the pickup.
	circtest.Consent(t, s, p.ID, "SLAV")
	r, err = me.PlaceMyReservation(ctx, &pb.PlaceMyReservationRequest{RequestId: circtest.ReqID(), Target: &pb.PlaceMyReservationRequest_ItemBarcode{ItemBarcode: "SLAV-0002"}})
	if err != nil || r.GetReservation().GetPickupLibraryId() != slav {
		t.Errorf("SLAV item with consent: %v, %v; want pickup at SLAV", r, err)
	}

	// Bad input loses nothing.
	_, err = me.PlaceMyReservation(ctx, &pb.PlaceMyReservationRequest{RequestId: circtest.ReqID(), Target: &pb.PlaceMyReservationRequest_ItemBarcode{ItemBarcode: "NONE-0000"}})
	circtest.Code(t, err, codes.NotFound)
	_, err = me.PlaceMyReservation(ctx, &pb.PlaceMyReservationRequest{RequestId: "x", Target: &pb.PlaceMyReservationRequest_ItemBarcode{ItemBarcode: "BRNO-0001"}})
	circtest.Code(t, err, codes.InvalidArgument)
	if n := reservations(); n != 2 {
		t.Errorf("active reservations = %d, want 2", n)
	}
}
