package patron_test

import (
	"context"
	"slices"
	"testing"

	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/policy"
)

// A name search folds the letters of Latin Extended-B and Latin Extended
// Additional and fullwidth forms (migration 00013), in the query and in
// the stored names, through every plan: "nguyen", "NGUYEN", "nguyễn" and
// "ｎｇｕｙｅｎ" find Nguyễn Thị Dương, "duong" finds the first name Dương
// (and the last name Dương, first), "tran" Trần, "pham" Phạm, "ho" Hồ and
// Hoàng; digraph letters, Irish dotted letters and fullwidth names too.
// A name matches where its key starts with the word, so "duong" does not
// find the first name "Thị Dương", nor "donaill" the last name "Ó Ḋónaill".
func TestNameSearchFoldsVietnameseAndFullwidth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	lib := library(t, db, "VIET")
	names := [][2]string{ // last, first
		{"Nguyễn", "Thị Dương"}, {"Trần", "Dương"}, {"Phạm", "Văn Hùng"}, {"Hồ", "Ngọc Anh"}, {"Dương", "Minh"},
		{"HOÀNG", "Thu"}, {"Novák", "Jan"}, {"Ǆurić", "Ǉubica"}, {"ＹＡＭＡＤＡ", "Ｔａｒｏ"}, {"Ó Ḋónaill", "Ṡeán"},
	}
	id := map[string]string{}
	for _, n := range names {
		var pid string
		if err := db.QueryRow(ctx, `INSERT INTO patrons (home_library_id, first_name, last_name) VALUES ($1, $2, $3) RETURNING id::text`,
			lib, n[1], n[0]).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		id[n[0]] = pid
	}
	s := policy.Subject{Kind: policy.KindStaff, AccountID: "00000000-0000-4000-8000-000000000001", LibraryID: lib,
		Permissions: identity.Permissions([]string{identity.RoleCirculation})}
	for _, tc := range []struct {
		queries []string
		want    []string // last names, in result order
	}{
		{[]string{"nguyen", "NGUYEN", "nguyễn", "Nguyễn", "NGUYỄN", "ngu", "ｎｇｕｙｅｎ", "ＮＧＵＹＥＮ", "nguyen thi", "Thị nguyễn", "ｎｇｕｙｅｎ　ｔｈｉ"},
			[]string{"Nguyễn"}},
		{[]string{"duong", "DUONG", "dương", "DƯƠNG", "du", "ｄｕｏｎｇ"}, []string{"Dương", "Trần"}},
		{[]string{"tran", "trần", "TRẦN", "tran duong", "Dương Trần"}, []string{"Trần"}},
		{[]string{"pham", "phạm", "PHẠM", "pham van", "văn phạm"}, []string{"Phạm"}},
		{[]string{"ho", "hồ", "HỒ", "Hô"}, []string{"Hồ", "HOÀNG"}},
		{[]string{"ngoc", "ngọc", "NGỌC", "ho ngoc"}, []string{"Hồ"}},
		{[]string{"hoang", "hoàng", "Hoàng thu"}, []string{"HOÀNG"}},
		{[]string{"dzuric", "džurić", "ǆurić", "ljubica", "Ǉubica"}, []string{"Ǆurić"}},
		{[]string{"yamada", "ｙａｍａｄａ", "taro", "Taro Yamada"}, []string{"ＹＡＭＡＤＡ"}},
		{[]string{"o", "ó", "sean", "ṡeán", "SEAN", "Ṡeán ó"}, []string{"Ó Ḋónaill"}},
		{[]string{"nguyen duong", "nguyen tran", "ư", "ｘ"}, nil},
	} {
		var want []string
		for _, n := range tc.want {
			want = append(want, id[n])
		}
		for _, q := range tc.queries {
			for _, plan := range plans {
				recs, err := patron.SearchWithPlan(ctx, db, s, patron.Query{Name: q}, plan)
				if err != nil {
					t.Fatalf("%q, plan %v: %v", q, plan, err)
				}
				if got := ids(recs); !slices.Equal(got, want) {
					var found []string
					for _, rec := range recs {
						found = append(found, rec.LastName+" "+rec.FirstName)
					}
					t.Errorf("%q, plan %v: got %q, want %q", q, plan, found, tc.want)
				}
			}
		}
	}
}
