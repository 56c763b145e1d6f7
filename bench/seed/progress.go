package seed

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func logf(x float64) float64 { return math.Log(x) }

// progress draws a bar of rows copied over the estimated total: redrawn in
// place on a terminal, one line every 10% otherwise.
type progress struct {
	w     io.Writer
	total int64
	rows  atomic.Int64
	tty   bool
	begin time.Time
	done  chan struct{}
	ended chan struct{}
}

func newProgress(w io.Writer, total int64) *progress {
	p := &progress{w: w, total: max(total, 1), done: make(chan struct{}), ended: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) add(n int64) { p.rows.Add(n) }

func (p *progress) start() {
	p.begin = time.Now()
	if p.w == nil {
		close(p.ended)
		return
	}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		lastDecile := -1
		for {
			select {
			case <-p.done:
				p.draw(true)
				return
			case <-t.C:
				if p.tty {
					p.draw(false)
				} else if d := int(10 * p.rows.Load() / p.total); d > lastDecile {
					lastDecile = d
					p.draw(true)
				}
			}
		}
	}()
}

func (p *progress) draw(newline bool) {
	n := p.rows.Load()
	frac := min(1, float64(n)/float64(p.total))
	const width = 40
	bar := strings.Repeat("=", int(frac*width))
	if len(bar) < width {
		bar += ">" + strings.Repeat(" ", width-len(bar)-1)
	}
	el := time.Since(p.begin)
	rate := float64(n) / max(el.Seconds(), 0.001)
	eta := "?"
	if rate > 0 && frac < 1 {
		eta = time.Duration(float64(p.total-n) / rate * float64(time.Second)).Round(time.Second).String()
	}
	end := "\r"
	if newline {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r[%s] %3.0f%% %s rows  %s rows/s  elapsed %s  eta %s   %s",
		bar, 100*frac, human(n), human(int64(rate)), el.Round(time.Second), eta, end)
}

func (p *progress) stop() {
	close(p.done)
	<-p.ended
}

func (p *progress) phase(name string) {
	if p.w != nil {
		fmt.Fprintf(p.w, "%s ...\n", name)
	}
}

func human(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
