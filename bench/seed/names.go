package seed

import "strings"

// Name lists for generated patrons: common Czech names with their usual
// frequency order (the first entries are drawn most often), so that name
// prefixes select realistic shares of the patron base ("nov" matches far
// more patrons than "zel").

var maleFirst = []string{
	"Jiří", "Jan", "Petr", "Josef", "Pavel", "Martin", "Tomáš", "Jaroslav", "Miroslav", "Zdeněk",
	"Václav", "Michal", "František", "Jakub", "Milan", "Karel", "Lukáš", "David", "Vladimír", "Ondřej",
	"Ladislav", "Roman", "Stanislav", "Marek", "Radek", "Daniel", "Antonín", "Vojtěch", "Filip", "Adam",
	"Matěj", "Jaromír", "Aleš", "Dominik", "Libor", "Patrik", "Vlastimil", "Oldřich", "Jindřich", "Miloš",
}

var femaleFirst = []string{
	"Jana", "Marie", "Eva", "Hana", "Anna", "Lenka", "Kateřina", "Lucie", "Věra", "Alena",
	"Petra", "Veronika", "Jaroslava", "Tereza", "Martina", "Michaela", "Jitka", "Helena", "Ludmila", "Zdeňka",
	"Ivana", "Monika", "Eliška", "Zuzana", "Markéta", "Jarmila", "Barbora", "Adéla", "Klára", "Kristýna",
	"Simona", "Dagmar", "Vlasta", "Irena", "Pavla", "Andrea", "Natálie", "Karolína", "Miroslava", "Denisa",
}

// surnames: male form and female form.
var surnames = [][2]string{
	{"Novák", "Nováková"}, {"Svoboda", "Svobodová"}, {"Novotný", "Novotná"}, {"Dvořák", "Dvořáková"},
	{"Černý", "Černá"}, {"Procházka", "Procházková"}, {"Kučera", "Kučerová"}, {"Veselý", "Veselá"},
	{"Horák", "Horáková"}, {"Němec", "Němcová"}, {"Marek", "Marková"}, {"Pospíšil", "Pospíšilová"},
	{"Pokorný", "Pokorná"}, {"Hájek", "Hájková"}, {"Král", "Králová"}, {"Jelínek", "Jelínková"},
	{"Růžička", "Růžičková"}, {"Beneš", "Benešová"}, {"Fiala", "Fialová"}, {"Sedláček", "Sedláčková"},
	{"Doležal", "Doležalová"}, {"Zeman", "Zemanová"}, {"Kolář", "Kolářová"}, {"Navrátil", "Navrátilová"},
	{"Čermák", "Čermáková"}, {"Vaněk", "Vaňková"}, {"Urban", "Urbanová"}, {"Blažek", "Blažková"},
	{"Kříž", "Křížová"}, {"Kovář", "Kovářová"}, {"Kratochvíl", "Kratochvílová"}, {"Bartoš", "Bartošová"},
	{"Vlček", "Vlčková"}, {"Polák", "Poláková"}, {"Musil", "Musilová"}, {"Kopecký", "Kopecká"},
	{"Šimek", "Šimková"}, {"Konečný", "Konečná"}, {"Malý", "Malá"}, {"Holub", "Holubová"},
	{"Štěpánek", "Štěpánková"}, {"Kadlec", "Kadlecová"}, {"Dostál", "Dostálová"}, {"Soukup", "Soukupová"},
	{"Šťastný", "Šťastná"}, {"Mareš", "Marešová"}, {"Moravec", "Moravcová"}, {"Sýkora", "Sýkorová"},
	{"Tichý", "Tichá"}, {"Valenta", "Valentová"}, {"Vávra", "Vávrová"}, {"Matoušek", "Matoušková"},
	{"Bláha", "Bláhová"}, {"Říha", "Říhová"}, {"Ševčík", "Ševčíková"}, {"Bureš", "Burešová"},
	{"Hruška", "Hrušková"}, {"Mašek", "Mašková"}, {"Pavlík", "Pavlíková"}, {"Dušek", "Dušková"},
	{"Janda", "Jandová"}, {"Hrubý", "Hrubá"}, {"Mach", "Machová"}, {"Kazda", "Kazdová"},
	{"Zelenka", "Zelenková"}, {"Šebek", "Šebková"}, {"Tůma", "Tůmová"}, {"Zedník", "Zedníková"},
	{"Lukáš", "Lukášová"}, {"Bednář", "Bednářová"}, {"Jireš", "Jirešová"}, {"Adámek", "Adámková"},
	{"Oliva", "Olivová"}, {"Ibl", "Iblová"}, {"Gregor", "Gregorová"}, {"Egrt", "Egrtová"},
	{"Wagner", "Wagnerová"}, {"Yoshida", "Yoshidová"}, {"Quis", "Quisová"}, {"Xaver", "Xaverová"},
}

var streets = []string{
	"Masarykova", "Nádražní", "Husova", "Palackého", "Komenského", "Školní", "Zahradní", "Smetanova",
	"Jiráskova", "Tyršova", "Sokolská", "Lidická", "Havlíčkova", "Nerudova", "Riegrova", "Polní",
}

var cities = []string{
	"Brno", "Praha", "Ostrava", "Plzeň", "Liberec", "Olomouc", "České Budějovice", "Hradec Králové",
	"Ústí nad Labem", "Pardubice", "Zlín", "Havířov", "Kladno", "Most", "Opava", "Frýdek-Místek",
	"Karviná", "Jihlava", "Teplice", "Děčín", "Karlovy Vary", "Chomutov", "Jablonec nad Nisou", "Mladá Boleslav",
	"Prostějov", "Přerov", "Česká Lípa", "Třebíč", "Třinec", "Tábor", "Znojmo", "Kolín", "Příbram", "Cheb",
	"Písek", "Trutnov", "Kroměříž", "Orlová", "Vsetín", "Šumperk", "Slavonice",
}

var titles = []string{
	"R.U.R.", "Babička", "Osudy dobrého vojáka Švejka", "Máj", "Staré pověsti české", "Povídky malostranské",
	"Krakatit", "Válka s mloky", "Saturnin", "Spalovač mrtvol", "Žert", "Nesnesitelná lehkost bytí",
	"Obsluhoval jsem anglického krále", "Příliš hlučná samota", "Bylo nás pět", "Kytice", "Petrolejové lampy",
	"Trollkarlens hatt", "Fänrik Ståls sägner", "Sedm statečných", "Dějiny umění", "Atlas ptáků",
}

// zipfPick returns an index in [0, n) with probability proportional to
// 1/(i+1)^0.7 given u in [0, 1) (precomputed cumulative weights).
type zipf struct{ cum []float64 }

func newZipf(n int, s float64) zipf {
	z := zipf{cum: make([]float64, n)}
	total := 0.0
	for i := range n {
		total += 1 / pow(float64(i+1), s)
		z.cum[i] = total
	}
	for i := range z.cum {
		z.cum[i] /= total
	}
	return z
}

func (z zipf) pick(u float64) int {
	lo, hi := 0, len(z.cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if z.cum[m] < u {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// The long tail of surnames: real surname distributions have tens of
// thousands of names, the most common (Novák) held by under 1% of people.
// 85% of patrons get a surname built from syllables (about 12 000
// distinct), the rest one of the common surnames above (Zipf).
var (
	tailFirst = []string{"Bal", "Bar", "Ber", "Bla", "Bor", "Bra", "Cha", "Chl", "Cig", "Dan", "Dor", "Dra", "Fil",
		"Gab", "Hal", "Hav", "Hol", "Hor", "Hra", "Jan", "Jel", "Kal", "Kam", "Kol", "Kop", "Kra", "Kub", "Lan",
		"Las", "Lit", "Mal", "Mar", "Mat", "Mik", "Mor", "Nem", "Nov", "Pal", "Pet", "Pol", "Pro", "Rad", "Rok",
		"Sed", "Sla", "Sta", "Svo", "Tom", "Tru", "Vac", "Val", "Vel", "Vit", "Vla", "Zal", "Zel", "Zim", "Ště"}
	tailMiddle = []string{"", "a", "e", "i", "o", "u", "ar", "er", "ol", "an", "en", "in", "ov", "ič", "os", "ub", "ech", "ád", "íř", "out"}
	tailEnd    = []string{"ek", "ák", "ík", "a", "ý", "ský", "ka", "ec", "ář", "an", "il", "oš"}
)

func surname(r interface {
	Float64() float64
	IntN(int) int
}, female bool) string {
	if r.Float64() < 0.15 {
		s := surnames[commonZipf.pick(r.Float64())]
		if female {
			return s[1]
		}
		return s[0]
	}
	m := tailFirst[r.IntN(len(tailFirst))] + tailMiddle[r.IntN(len(tailMiddle))] + tailEnd[r.IntN(len(tailEnd))]
	if !female {
		return m
	}
	switch {
	case strings.HasSuffix(m, "ý"):
		return strings.TrimSuffix(m, "ý") + "á"
	case strings.HasSuffix(m, "a"):
		return strings.TrimSuffix(m, "a") + "ová"
	case strings.HasSuffix(m, "ek"):
		return strings.TrimSuffix(m, "ek") + "ková"
	case strings.HasSuffix(m, "ec"):
		return strings.TrimSuffix(m, "ec") + "cová"
	}
	return m + "ová"
}

var (
	commonZipf    = newZipf(len(surnames), 0.8)
	firstNameZipf = newZipf(len(maleFirst), 0.8)
)
