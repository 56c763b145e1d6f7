package rights_test

import (
	"testing"

	"github.com/patronfed/patronfed/testserver"
)

// The patron's extract (right of access) includes title holds, waiting
// and finished, with their record id: a hold with no copy is not left out
// for want of an item.
func TestExtractHasTitleHolds(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id := patronID(t, s, "B0003")
	token := patronLoginFrom(t, s, "B0003", "203.0.113.8")
	brno := s.LibraryID(t, "BRNO")
	now := testserver.Epoch
	exec(t, s, `UPDATE items SET record_id = 'CNB000424242' WHERE barcode = 'BRNO-0004'`)
	exec(t, s, `INSERT INTO reservations (record_id, patron_id, pickup_library_id, placed_at, expires_at)
		VALUES ('CNB000424242', $1, $2, $3::timestamptz, $3::timestamptz + interval '7 days')`, id, brno, now)
	exec(t, s, `INSERT INTO reservations (record_id, patron_id, pickup_library_id, status, placed_at, expires_at, finished_at)
		VALUES ('CNB000424242', $1, $2, 'cancelled', $3::timestamptz - interval '30 days', $3::timestamptz - interval '23 days',
			$3::timestamptz - interval '25 days')`, id, brno, now)

	code, out := rest(t, s, "POST", "/v1/me/rights-requests", token, map[string]any{"kind": "RIGHTS_REQUEST_KIND_ACCESS"}, nil)
	if code != 200 {
		t.Fatalf("create request: %d %v", code, out)
	}
	code, out = rest(t, s, "POST", "/v1/me/rights-requests/"+obj(t, out, "request")["id"].(string)+":deliverExtract", token, map[string]any{}, nil)
	if code != 200 {
		t.Fatalf("deliver: %d %v", code, out)
	}
	x := obj(t, out, "extract")
	var title string
	if err := s.DB.QueryRow(t.Context(), `SELECT title FROM items WHERE barcode = 'BRNO-0004'`).Scan(&title); err != nil {
		t.Fatal(err)
	}
	if r := list(t, x, "reservations"); len(r) != 1 || r[0]["record_id"] != "CNB000424242" || r[0]["item_barcode"] != "" || r[0]["title"] != title {
		t.Errorf("reservations %v", r)
	}
	found := false
	for _, h := range list(t, x, "history") {
		if h["kind"] == "reservation" && h["record_id"] == "CNB000424242" && h["outcome"] == "cancelled" {
			found = true
		}
	}
	if !found {
		t.Errorf("history %v: no cancelled title hold", x["history"])
	}
}
