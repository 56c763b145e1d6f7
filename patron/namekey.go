package patron

import (
	"strings"
	"unicode/utf8"
)

// Name keys: what a name search compares and orders by (Search). The key
// of a name folds case and diacritics, so that "čermák", "ČERMÁK" and
// "cermak" all find "Čermák", the way users of library systems expect
// (Evergreen's NACO normalisation, Koha's search): NameKey in Go for the
// words of a query, the SQL function patron_name_key (migration 00010) for
// the names, through the indexes patrons_name_order_idx and
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
//   - ß ẞ → ss, Æ æ → ae, Œ œ → oe, Þ þ → th, Ĳ ĳ → ij (as NACO does);
//   - Cyrillic and Greek capitals to small letters (Cyrillic letters keep
//     their diacritics: ё, й, ї are letters of their own; Greek loses the
//     tonos and dialytika, and ς is σ);
//   - combining diacritical marks (U+0300-U+036F) to nothing, so that a
//     decomposed "C\u030Cerma\u0301k" has the key of "Čermák";
//
// and every other code point to itself. Not covered: letters of Latin
// Extended-B (but Ș Ț), Latin Extended Additional (Vietnamese) and other
// precomposed letters outside those blocks, the case of other scripts
// (Armenian, Georgian, Cherokee...), and compatibility forms (ﬁ, fullwidth
// letters): a search for those must match the stored name's case and
// accents. Punctuation (O'Brien, Nováková-Svobodová) is kept.

// nameKeyTable is the translation of patron_name_key: translate()'s from
// and to, piece by piece as in migration 00010 (which lists the combining
// marks nameKeyDelete). translate() scans from for every character of a
// name, so the letters of Czech names come first, the most frequent first:
// listing even the ASCII letters (most of every name) makes the key about
// six times cheaper than ASCII through lower() and a full scan.
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
}

// nameKeyDelete: combining diacritical marks (U+0300-U+036F), deleted
// (translate()'s from is longer than its to by these).
const nameKeyDeleteFirst, nameKeyDeleteLast = 0x0300, 0x036F

// nameKeyExpand maps the letters the translation leaves as they are (or
// makes) to the two letters they stand for: replace() in patron_name_key.
var nameKeyExpand = map[rune]string{'ß': "ss", 'æ': "ae", 'œ': "oe", 'þ': "th", 'ĳ': "ij"}

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
