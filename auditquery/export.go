package auditquery

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"time"
)

// CSVHeader is the first row of a CSV export: one row per patron, one
// column of read counts per field group.
func CSVHeader() []string {
	return append([]string{"patron_id", "home_library_id", "reads", "first_read", "last_read"}, groups...)
}

// WriteCSV renders patrons as CSV rows, preceded by the header when header
// is set (the first page), so that pages concatenate into one file.
func WriteCSV(patrons []Patron, header bool) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if header {
		if err := w.Write(CSVHeader()); err != nil {
			return nil, err
		}
	}
	for _, p := range patrons {
		rec := []string{p.PatronID, p.HomeLibraryID, strconv.FormatInt(p.Reads, 10), stamp(p.First), stamp(p.Last)}
		for _, g := range groups {
			rec = append(rec, strconv.FormatInt(readsOf(p.Fields, g), 10))
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func readsOf(fc []FieldCount, g string) int64 {
	for _, f := range fc {
		if f.Field == g {
			return f.Reads
		}
	}
	return 0
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// jsonFilter, jsonSummary and jsonPatron are the JSON export's shapes.
type jsonFilter struct {
	ActorID   string `json:"actor_id,omitempty"`
	LibraryID string `json:"library_id,omitempty"`
	TokenID   string `json:"token_id,omitempty"`
	From      string `json:"start_time,omitempty"`
	To        string `json:"end_time,omitempty"`
}

type jsonField struct {
	Field   string `json:"field"`
	Reads   int64  `json:"reads"`
	Patrons int64  `json:"patrons"`
}

type jsonSummary struct {
	Reads   int64       `json:"reads"`
	Patrons int64       `json:"patrons"`
	First   string      `json:"first_read,omitempty"`
	Last    string      `json:"last_read,omitempty"`
	Fields  []jsonField `json:"fields"`
}

type jsonPatron struct {
	PatronID      string           `json:"patron_id"`
	HomeLibraryID string           `json:"home_library_id,omitempty"`
	Reads         int64            `json:"reads"`
	First         string           `json:"first_read"`
	Last          string           `json:"last_read"`
	Fields        map[string]int64 `json:"fields"`
}

// WriteJSON renders one page of an export as a JSON document. The first
// page carries the filter and the summary.
func WriteJSON(f BreachFilter, summary *Summary, patrons []Patron, nextPageToken string, generated time.Time) ([]byte, error) {
	doc := struct {
		Generated string       `json:"generated_time"`
		Filter    *jsonFilter  `json:"filter,omitempty"`
		Summary   *jsonSummary `json:"summary,omitempty"`
		Patrons   []jsonPatron `json:"patrons"`
		Next      string       `json:"next_page_token,omitempty"`
	}{Generated: stamp(generated), Patrons: make([]jsonPatron, 0, len(patrons)), Next: nextPageToken}
	if summary != nil {
		doc.Filter = &jsonFilter{ActorID: f.ActorID, LibraryID: f.LibraryID, TokenID: f.TokenID, From: stamp(f.From), To: stamp(f.To)}
		js := &jsonSummary{Reads: summary.Reads, Patrons: summary.Patrons, First: stamp(summary.First), Last: stamp(summary.Last),
			Fields: make([]jsonField, 0, len(summary.Fields))}
		for _, fc := range summary.Fields {
			js.Fields = append(js.Fields, jsonField(fc))
		}
		doc.Summary = js
	}
	for _, p := range patrons {
		jp := jsonPatron{PatronID: p.PatronID, HomeLibraryID: p.HomeLibraryID, Reads: p.Reads,
			First: stamp(p.First), Last: stamp(p.Last), Fields: map[string]int64{}}
		for _, fc := range p.Fields {
			jp.Fields[fc.Field] = fc.Reads
		}
		doc.Patrons = append(doc.Patrons, jp)
	}
	return json.MarshalIndent(doc, "", "  ")
}
