package patron_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/store"
)

// The name key in Go (the words of a query) and in SQL (patron_name_key,
// the names in the indexes) agree exactly: on every code point of the
// Basic Multilingual Plane and some beyond it, one by one (both map each
// code point on its own, so this covers every string of them), on a few
// thousand random strings of mapped letters, ASCII, other scripts, emoji
// and combining marks, and in a database whose collation is not C as well
// (the key must not depend on it).
func TestNameKeyMatchesSQL(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, db *pgxpool.Pool) {
		ctx := context.Background()
		var all []string
		for r := rune(1); r <= 0xFFFF; r++ {
			if utf8.ValidRune(r) {
				all = append(all, string(r))
			}
		}
		for _, r := range []rune{0x10000, 0x1D400, 0x1F600, 0x1F1E8, 0x20000, 0xE0041, 0x10FFFF} {
			all = append(all, string(r))
		}
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		r := rand.New(rand.NewPCG(seed, seed>>5))
		pools := [][]rune{
			patron.NameKeyLetters(),
			[]rune("abcxyzABCXYZ019 -'.%_\\~"),
			[]rune("ЖжЩщЁёЇїҐґЪъЮюЯяΑαΩωΆάΐΰΣσςԱաႠა"),
			[]rune("漢字かなカナ한글ｶﾅＡｚﬁǅǄǆǍǎƠưẞİı"),
			[]rune("😀👩🏽‍🔬🇨🇿\u200d\ufeff\u00a0\u00ad"),
			[]rune("\u0300\u0301\u030c\u0308\u0327\u036f\u0370\u1ab0\u20d0"),
		}
		all = append(all, "", "Čermák", "C\u030cerma\u0301k", "ŠŤASTNÝ Řehoř", "Straße", "ÆØÅ æøå", "Петров", "ΆΣΟΣ")
		for range 4000 {
			var b strings.Builder
			for range r.IntN(13) {
				p := pools[r.IntN(len(pools))]
				b.WriteRune(p[r.IntN(len(p))])
			}
			all = append(all, b.String())
		}
		rows, err := db.Query(ctx, `SELECT patron_name_key(s) FROM unnest($1::text[]) WITH ORDINALITY AS u(s, i) ORDER BY i`, all)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != len(all) {
			t.Fatalf("%d keys for %d strings", len(keys), len(all))
		}
		bad := 0
		for i, s := range all {
			if got := patron.NameKey(s); got != keys[i] {
				if bad++; bad <= 20 {
					t.Errorf("%q (%U): Go %q, SQL %q", s, []rune(s), got, keys[i])
				}
			}
		}
		var null bool
		if err := db.QueryRow(ctx, `SELECT patron_name_key(NULL) IS NULL`).Scan(&null); err != nil || !null {
			t.Errorf("patron_name_key(NULL): %v, %v", null, err)
		}
	}
	t.Run("C", func(t *testing.T) {
		t.Parallel()
		check(t, pgtest.NewPool(t))
	})
	t.Run("not C", func(t *testing.T) {
		t.Parallel()
		check(t, notCDB(t))
	})
}

// The key folds case and diacritics the way users of library systems
// expect.
func TestNameKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Čermák": "cermak", "ČERMÁK": "cermak", "čermák": "cermak", "C\u030cerma\u0301k": "cermak",
		"Šťastný Řehoř": "stastny rehor", "ŽĎÁR Ůpice Úlehla": "zdar upice ulehla", "Ľubomír Ĺ Ŕ Ô Ä": "lubomir l r o a",
		"Łódź Ąę Śń": "lodz ae sn", "Gödöllő Űr": "godollo ur", "Straße ẞ": "strasse ss", "Ærø Œuvre Þór Ĳssel": "aero oeuvre thor ijssel",
		"Øresund Åse": "oresund ase", "Đorđe Ðiðrik": "dorde didrik", "Ștefan Țară": "stefan tara", "François Niño": "francois nino",
		"ПЕТРОВ Ґава": "петров ґава", "ΆΓΙΟΣ Σωκράτης": "αγιοσ σωκρατησ", "O'Brien-Smith": "o'brien-smith",
		"漢字": "漢字", "😀": "😀", "": "",
		"Nguyễn Thị Dương": "nguyen thi duong", "TRẦN PHẠM HỒ": "tran pham ho", "ƠƯơư": "ouou", "Ǎǐǒǔǖǘǚǜ": "aiouuuuu",
		"Ǆ ǅ ǆ Ǳ ǲ ǳ Ǉ ǈ ǉ Ǌ ǋ ǌ": "dz dz dz dz dz dz lj lj lj nj nj nj", "Ǣǽ": "aeae", "ƀ Ɓ ɓ ƒ Ɨ ɨ Ǥ Ƶ": "b b b f i i g z",
		"ḃḋḟṁṗṡṫ ẁẃẅỳ": "bdfmpst wwwy", "ＮＧＵＹＥＮ ｎｇｕｙｅｎ ０９": "nguyen nguyen 09", "Ｏ＇Ｂｒｉｅｎ％＼": "o'brien%\\",
		"ə ǝ Ɛ Ɔ ʃ ȝ ƿ ƕ Ȣ Ỻ": "ə ǝ Ɛ Ɔ ʃ ȝ ƿ ƕ Ȣ Ỻ",
	} {
		if got := patron.NameKey(in); got != want {
			t.Errorf("NameKey(%q) = %q, want %q", in, got, want)
		}
	}
}

var notCSeq atomic.Int64

// notCDB returns a migrated database on the test server whose default
// collation is not C: ICU Czech if the server has ICU, else libc C.UTF-8
// (which PostgreSQL does not treat as C either); it skips the test if the
// server has neither.
func notCDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	name := fmt.Sprintf("notc_%d_%d", os.Getpid(), notCSeq.Add(1))
	created := false
	for _, locale := range []string{
		`LOCALE_PROVIDER icu ICU_LOCALE 'cs-CZ' LOCALE 'C'`,
		`LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`,
		`LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8'`,
	} {
		if _, err := admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' `+locale); err == nil {
			t.Logf("database %s: %s", name, locale)
			created = true
			break
		}
	}
	if !created {
		t.Skip("the test server has no collation but C")
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	url := pgtest.SuperuserURL(name)
	if err := store.MigrateUp(ctx, url); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
