package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progressMinBytes is the size from which a copy shows a progress bar (on a terminal).
const progressMinBytes = 16 << 20

// progressInterval is the shortest time between two redraws of a progress bar.
const progressInterval = 100 * time.Millisecond

// isTerminal reports whether w is a character device (a terminal), the condition for
// drawing progress bars on it.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws a one-line progress bar, redrawn in place with '\r':
//
//	put [=========>          ]  48%  12.0MiB/25.0MiB  80.0MiB/s
//
// It is safe for concurrent use. Redraws are throttled to one per progressInterval;
// Finish draws the final state and ends the line. A nil *progressBar does nothing, so
// callers need not check whether one is shown.
type progressBar struct {
	w     io.Writer
	label string
	now   func() time.Time

	// mu guards the counters and the writes to w.
	mu    sync.Mutex
	total int64
	done  int64
	start time.Time
	drawn time.Time
	ended bool
}

// newProgressBar returns a bar for total bytes drawn on w.
func newProgressBar(w io.Writer, label string, total int64) *progressBar {
	p := &progressBar{w: w, label: label, total: total, now: time.Now}
	p.start = p.now()
	return p
}

// maybeProgress returns a progress bar on the shell's error output when it is a terminal
// and the copy is large, else nil.
func maybeProgress(s *shell, total int64) *progressBar {
	if total < progressMinBytes || !isTerminal(s.errOut) {
		return nil
	}
	return newProgressBar(s.errOut, s.name, total)
}

// Add counts n more bytes and redraws when the last redraw is old enough.
func (p *progressBar) Add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if now := p.now(); now.Sub(p.drawn) >= progressInterval {
		p.drawn = now
		p.draw(now)
	}
}

// Finish draws the final state and ends the line; later calls do nothing.
func (p *progressBar) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	p.draw(p.now())
	fmt.Fprintln(p.w)
}

// draw writes the bar; p.mu must be held.
func (p *progressBar) draw(now time.Time) {
	fmt.Fprintf(p.w, "\r%s", p.line(now))
}

// line renders the bar's text at time now; p.mu must be held.
func (p *progressBar) line(now time.Time) string {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = min(1, float64(p.done)/float64(p.total))
	}
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	rate := "-"
	if el := now.Sub(p.start).Seconds(); el > 0 {
		rate = formatSize(int64(float64(p.done)/el)) + "/s"
	}
	return fmt.Sprintf("%s [%s] %3d%%  %s/%s  %s ", p.label, bar, int(frac*100), formatSize(p.done), formatSize(p.total), rate)
}

// Reader counts what is read through r.
func (p *progressBar) Reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &progressReader{r: r, p: p}
}

// Writer counts what is written through w.
func (p *progressBar) Writer(w io.Writer) io.Writer {
	if p == nil {
		return w
	}
	return &progressWriter{w: w, p: p}
}

type progressReader struct {
	r io.Reader
	p *progressBar
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.Add(int64(n))
	return n, err
}

type progressWriter struct {
	w io.Writer
	p *progressBar
}

func (w *progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.p.Add(int64(n))
	return n, err
}
