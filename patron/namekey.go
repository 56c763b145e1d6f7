package patron

import (
	"strings"
	"unicode/utf8"
)

// Name keys: what a name search compares and orders by (Search). The key
// of a name folds case and diacritics, so that "čermák", "ČERMÁK" and
// "cermak" all find "Čermák", the way users of library systems expect
// (Evergreen's NACO normalisation, Koha's search): NameKey in Go for the
// words of a query, the SQL function patron_name_key (migrations 00010 and
// 00013) for the names, through the indexes patrons_name_order_idx and
// patrons_first_name_order_idx on it. The two must agree exactly, on every
// string; TestNameKeyMatchesSQL checks every code point of the Basic
// Multilingual Plane and random strings against the database.
//
// The key is a pure function of the name, independent of the database's
// collation and locale: patron_name_key is replace(...(translate(name,
// from, to), 'ß', 'ss')...), with every letter it folds, ASCII included,
// in the tables below. Keys are compared and ordered under collation C
// (byte order), the only collation under which PostgreSQL turns LIKE
// 'prefix%' into an index range.
//
// Per code point, the key maps:
//
//   - ASCII capitals to small letters;
//   - the letters with diacritics of Latin-1 Supplement and Latin
//     Extended-A (every Czech, Slovak, German, Polish, Hungarian, Nordic,
//     Baltic, French, Spanish, Portuguese, Turkish... letter) and the
//     Romanian Ș ș Ț ț to their small base letter: Č č → c, Ř → r, Ů → u,
//     Ő → o, Ł ł → l, Đ đ Ð ð → d, Ø ø → o, Ħ → h, ı → i, ĸ → k, ŉ → n,
//     ſ → s;
//   - the letters of Latin Extended Additional and Latin Extended-B that
//     are a Latin letter with diacritics, a stroke, bar, hook, tail, curl
//     or loop (migration 00013) to their small base letter: Vietnamese
//     (Nguyễn → nguyen, Dương → duong, Trần → tran, Phạm → pham, Hồ → ho;
//     ư ơ are Latin Extended-B), pinyin ǎ ǐ ǒ ǔ ǖ ǘ ǚ ǜ, Irish ḃ ḋ ḟ ṁ ṗ ṡ ṫ,
//     Welsh ẁ ẃ ẅ ỳ, African ƀ Ɓ Ɗ Ɖ Ƙ Ƴ, ƒ, Ɨ, Ǥ, Ǿ → o, Ƶ...; with the
//     small partners of its capitals from other blocks (ɓ ɖ ɗ ɠ ɨ ɲ ɵ ʈ ʉ ʋ
//     ⱥ ⱦ, and the capitals Ȿ Ɀ);
//   - ß ẞ → ss, Æ æ Ǣ ǣ Ǽ ǽ → ae, Œ œ → oe, Þ þ → th, Ĳ ĳ → ij (as NACO
//     does), Ǆ ǅ ǆ Ǳ ǲ ǳ → dz, Ǉ ǈ ǉ → lj, Ǌ ǋ ǌ → nj;
//   - fullwidth ASCII (U+FF01-U+FF5E, typed with CJK input methods) to
//     ASCII, capitals to small letters: ＮＧＵＹＥＮ → nguyen, ０ → 0;
//   - Cyrillic and Greek capitals to small letters (Cyrillic letters keep
//     their diacritics: ё, й, ї are letters of their own; Greek loses the
//     tonos and dialytika, and ς is σ);
//   - combining diacritical marks (U+0300-U+036F) to nothing, so that a
//     decomposed "C\u030Cerma\u0301k" has the key of "Čermák";
//
// and every other code point to itself. Not covered: the letters of
// Latin Extended-B and Latin Extended Additional without a Latin base
// letter (schwa Ə ə, turned and reversed e ǝ Ǝ, open e and o Ɛ Ɔ, gamma Ɣ,
// iota Ɩ, upsilon Ʊ, esh Ʃ ƪ, ezh Ʒ Ƹ ƹ ƺ Ǯ ǯ, yogh Ȝ ȝ, wynn Ƿ ƿ, hwair
// Ƕ ƕ, ou Ȣ ȣ, oi Ƣ ƣ, yr Ʀ, turned m and v Ɯ Ʌ, lambda with stroke ƛ,
// turned delta ƍ, delta ẟ, db and qp digraphs ȸ ȹ, Middle Welsh ll and v
// Ỻ ỻ Ỽ ỽ, tone letters Ƨ ƨ Ƅ ƅ Ƽ ƽ, glottal stops Ɂ ɂ ƾ, ƻ, the clicks
// ǀ ǁ ǂ ǃ), other precomposed letters outside those blocks (Latin
// Extended-C, -D, -E, IPA but the partners above), the case of other
// scripts (Armenian, Georgian, Cherokee...), and other compatibility forms
// (ﬁ, halfwidth katakana): a search for those must match the stored
// name's case and accents. Punctuation (O'Brien, Nováková-Svobodová) is
// kept.

// nameKeyTable is the translation of patron_name_key: translate()'s from
// and to, piece by piece as in migration 00013 (which lists the combining
// marks nameKeyDelete last). translate() scans from for every character
// of a name, so the letters of Czech names come first, the most frequent
// first: listing even the ASCII letters (most of every name) makes the key
// about six times cheaper than ASCII through lower() and a full scan. The
// letters of migration 00013 come after those of 00010, so that Czech
// letters cost no more; space, hyphen and apostrophe, mapped to
// themselves, come early, since a character missing from from costs a
// scan of all of it.
var nameKeyTable = [...]struct{ from, to string }{
	// ASCII small letters, most frequent in Czech names first (to themselves)
	{"aoeinrlkvtsmuhdcjpbyzgfwxq",
		"aoeinrlkvtsmuhdcjpbyzgfwxq"},
	// Czech small letters with diacritics, most frequent first
	{"áíéýřčšžůúěňťďó",
		"aieyrcszuuentdo"},
	// ASCII capitals, most frequent initials of Czech names first
	{"NSKDHMPVBCJTRLFZOEAGIUWYXQ",
		"nskdhmpvbcjtrlfzoeagiuwyxq"},
	// Czech capitals with diacritics
	{"ČŠŽŘÚÁÍÉÝŮĚŇŤĎÓ",
		"cszruaieyuentdo"},
	// space, hyphen, apostrophe (to themselves: see above)
	{" -'",
		" -'"},
	// the rest of Latin-1 Supplement (no × ÷; ß æ þ below)
	{"ÀÂÃÄÅÆÇÈÊËÌÎÏÐÑÒÔÕÖØÙÛÜÞàâãäåçèêëìîïðñòôõöøùûüÿ",
		"aaaaaæceeeiiidnooooouuuþaaaaaceeeiiidnooooouuuy"},
	// the rest of Latin Extended-A (ĳ œ below)
	{"ĀāĂăĄąĆćĈĉĊċĐđĒēĔĕĖėĘęĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĲĴĵĶķĸĹĺĻļĽľĿŀŁłŃńŅņŉŊŋŌōŎŏŐőŒŔŕŖŗŚśŜŝŞşŢţŦŧŨũŪūŬŭŰűŲųŴŵŶŷŸŹźŻżſ",
		"aaaaaaccccccddeeeeeeeegggggggghhhhiiiiiiiiiiĳjjkkkllllllllllnnnnnnnooooooœrrrrssssssttttuuuuuuuuuuwwyyyzzzzs"},
	// Romanian comma-below letters, capital sharp s
	{"ȘșȚțẞ",
		"ssttß"},
	// Cyrillic capitals (U+0400-U+042F, Ґ)
	{"ЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯҐ",
		"ѐёђѓєѕіїјљњћќѝўџабвгдежзийклмнопрстуфхцчшщъыьэюяґ"},
	// Greek capitals, letters with tonos or dialytika, final sigma
	{"ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΆΈΉΊΌΎΏΪΫάέήίόύώϊϋΐΰς",
		"αβγδεζηθικλμνξοπρστυφχψωαεηιουωιυαεηιουωιυιυσ"},
	// Vietnamese small letters of Latin Extended-B and Latin Extended
	// Additional (ư ơ, ạ ả ấ ầ ẩ ẫ ậ...), more frequent in names first
	{"ạưệịơễầếỳảậềọốồờứỹấắằặổỗộợụủữựẩẫẳẵẹẻẽểỉỏớởỡừửỵỷ",
		"aueioeaeyaaeoooouyaaaaoooouuuuaaaaeeeeioooouuyy"},
	// Vietnamese capitals
	{"ƠƯẠẢẤẦẨẪẬẮẰẲẴẶẸẺẼẾỀỂỄỆỈỊỌỎỐỒỔỖỘỚỜỞỠỢỤỦỨỪỬỮỰỲỴỶỸ",
		"ouaaaaaaaaaaaaeeeeeeeeiioooooooooooouuuuuuuyyyy"},
	// the rest of Latin Extended Additional (ẞ above; not ẟ Ỻ ỻ Ỽ ỽ)
	{"ḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẚẛẜẝỾỿ",
		"aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwwwwwwwwxxxxyyzzzzzzhtwyasssyy"},
	// the rest of Latin Extended-B with a Latin base letter (Ș ș Ț ț
	// above; ǳ ǉ ǌ are expanded below)
	{"ƀƁƂƃƇƈƉƊƋƌƑƒƓƗƘƙƚƝƞƟƤƥƫƬƭƮƲƳƴƵƶǄǅǆǇǈǊǋǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǢǣǤǥǦǧǨǩǪǫǬǭǰǱǲǴǵǸǹǺǻǼǽǾǿȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȞȟȠȡȤȥȦȧȨȩȪȫȬȭȮȯȰȱȲȳȴȵȶȷȺȻȼȽȾȿɀɃɄɆɇɈɉɊɋɌɍɎɏ",
		"bbbbccddddffgikklnnoppttttvyyzzǳǳǳǉǉǌǌaaiioouuuuuuuuuuaaaaææggggkkoooojǳǳggnnaaææooaaaaeeeeiiiioooorrrruuuuhhndzzaaeeooooooooyylntjaccltszbueejjqqrryy"},
	// the case partners of those letters in IPA Extensions and Latin
	// Extended-C
	{"ɓɖɗɠɨɲɵʈʉʋⱥⱦⱾⱿ",
		"bddginotuvatsz"},
	// fullwidth ASCII
	{"！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～",
		"!\"#$%&'()*+,-./0123456789:;<=>?@abcdefghijklmnopqrstuvwxyz[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"},
}

// nameKeyDelete: combining diacritical marks (U+0300-U+036F), deleted
// (translate()'s from is longer than its to by these).
const nameKeyDeleteFirst, nameKeyDeleteLast = 0x0300, 0x036F

// nameKeyExpand maps the letters the translation leaves as they are (or
// makes) to the two letters they stand for: replace() in patron_name_key.
var nameKeyExpand = map[rune]string{'ß': "ss", 'æ': "ae", 'œ': "oe", 'þ': "th", 'ĳ': "ij", 'ǳ': "dz", 'ǉ': "lj", 'ǌ': "nj"}

// nameKeyMap is the mapping of NameKey for every code point it changes.
var nameKeyMap = func() map[rune]string {
	m := map[rune]string{}
	add := func(from, to string) {
		t := []rune(to)
		if utf8.RuneCountInString(from) != len(t) {
			panic("patron: name key tables of different lengths")
		}
		for i, r := range []rune(from) {
			if _, dup := m[r]; dup {
				panic("patron: name key maps " + string(r) + " twice")
			}
			m[r] = string(t[i])
			if x, ok := nameKeyExpand[t[i]]; ok {
				m[r] = x
			}
		}
	}
	for _, t := range nameKeyTable {
		add(t.from, t.to)
	}
	for r := rune(nameKeyDeleteFirst); r <= nameKeyDeleteLast; r++ {
		m[r] = ""
	}
	for r, x := range nameKeyExpand {
		m[r] = x
	}
	return m
}()

// NameKey is the key of a name or of a word of a query: in Go what
// patron_name_key is in SQL.
func NameKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r < utf8.RuneSelf:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
		default:
			if x, ok := nameKeyMap[r]; ok {
				b.WriteString(x)
			} else {
				// Invalid UTF-8 (never in the database) as it is.
				b.WriteString(s[i : i+n])
			}
		}
		i += n
	}
	return b.String()
}
