package pii

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const secretPNR = "19121212-1212"

type exported struct {
	Name string
	PNR  Redacted
	Ptr  *Redacted
}

type unexported struct {
	name string
	pnr  Redacted
}

func TestRedactedReveal(t *testing.T) {
	r := NewRedacted(secretPNR)
	if r.Reveal() != secretPNR || r.IsZero() {
		t.Fatal("Reveal")
	}
	var z Redacted
	if z.Reveal() != "" || !z.IsZero() || z.String() != RedactedText {
		t.Fatal("zero value")
	}
}

func TestRedactedNeverLeaks(t *testing.T) {
	r := NewRedacted(secretPNR)
	values := map[string]any{
		"value":      r,
		"pointer":    &r,
		"exported":   exported{Name: "a", PNR: r, Ptr: &r},
		"exportedp":  &exported{Name: "a", PNR: r, Ptr: &r},
		"unexported": unexported{name: "a", pnr: r},
		"slice":      []Redacted{r, r},
		"map":        map[string]Redacted{"k": r},
		"error":      fmt.Errorf("lookup %v failed", r),
		"wrapped":    fmt.Errorf("outer: %w", fmt.Errorf("inner %s", r)),
	}
	check := func(how, out string) {
		t.Helper()
		if strings.Contains(out, secretPNR) || strings.Contains(out, "191212") {
			t.Errorf("%s leaks: %s", how, out)
		}
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T %v", "%10.3s", "%d"} {
			check(name+" "+verb, fmt.Sprintf(verb, v))
		}
		check(name+" Sprint", fmt.Sprint(v))
		check(name+" Sprintln", fmt.Sprintln(v))

		if _, isErr := v.(error); !isErr {
			j, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s json: %v", name, err)
			}
			check(name+" json", string(j))
			if x, err := xml.Marshal(v); err == nil {
				check(name+" xml", string(x))
			}
		}

		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		} {
			var buf bytes.Buffer
			l := slog.New(h(&buf))
			l.Info("msg", "v", v)
			l.Info("msg", slog.Any("v", v), slog.Group("g", "v", v))
			l.With("v", v).Info(fmt.Sprint(v))
			check(name+" slog", buf.String())
		}
	}
	if got := fmt.Sprintf("%v", r); got != RedactedText {
		t.Errorf("%%v = %q", got)
	}
	if j, _ := json.Marshal(r); string(j) != `"[redacted]"` {
		t.Errorf("json = %s", j)
	}
}

func TestRedactedUnmarshalJSON(t *testing.T) {
	var req struct {
		PNR Redacted `json:"pnr"`
	}
	if err := json.Unmarshal([]byte(`{"pnr":"`+secretPNR+`"}`), &req); err != nil {
		t.Fatal(err)
	}
	if req.PNR.Reveal() != secretPNR {
		t.Fatalf("got %q", req.PNR.Reveal())
	}
	err := json.Unmarshal([]byte(`{"pnr":191212121212}`), &req)
	if err == nil || strings.Contains(err.Error(), "191212") {
		t.Fatalf("err = %v", err)
	}
	var r Redacted
	if err := r.UnmarshalJSON([]byte("null")); err != nil || !r.IsZero() {
		t.Fatalf("null: %v", err)
	}
}
