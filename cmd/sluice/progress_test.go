package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for progress bars.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestBar(w io.Writer, total int64) (*progressBar, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p := &progressBar{w: w, label: "put", total: total, now: clk.now, start: clk.t}
	return p, clk
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	p, clk := newTestBar(&out, 4<<20)
	clk.t = clk.t.Add(time.Second)
	p.Add(1 << 20)
	if want := "\rput [=======>                      ]  25%  1.0MiB/4.0MiB  1.0MiB/s "; out.String() != want {
		t.Fatalf("after 1 MiB in 1 s:\n%q\nwant\n%q", out.String(), want)
	}
	// Redraws are throttled.
	p.Add(1 << 20)
	if strings.Count(out.String(), "\r") != 1 {
		t.Errorf("redrew within %v: %q", progressInterval, out.String())
	}
	clk.t = clk.t.Add(progressInterval)
	p.Add(2 << 20)
	p.Finish()
	p.Finish()
	lines := strings.Split(out.String(), "\r")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "put [==============================] 100%  4.0MiB/4.0MiB  ") || !strings.HasSuffix(last, "\n") {
		t.Errorf("final state %q", last)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("Finish twice ended %d lines", strings.Count(out.String(), "\n"))
	}
}

func TestProgressBar_CountsReadsAndWrites(t *testing.T) {
	var out bytes.Buffer
	p, _ := newTestBar(&out, 10)
	var sink bytes.Buffer
	if _, err := io.Copy(p.Writer(&sink), p.Reader(strings.NewReader("12345"))); err != nil {
		t.Fatal(err)
	}
	if p.done != 10 {
		t.Errorf("counted %d bytes through a reader and a writer of 5, want 10", p.done)
	}
	if sink.String() != "12345" {
		t.Errorf("copied %q", sink.String())
	}
	// A nil bar passes everything through and does nothing.
	var nilBar *progressBar
	r := strings.NewReader("x")
	if nilBar.Reader(r) != io.Reader(r) || nilBar.Writer(&sink) != io.Writer(&sink) {
		t.Error("nil bar wrapped its reader or writer")
	}
	nilBar.Add(1)
	nilBar.Finish()
}

func TestProgressBar_EmptyTotal(t *testing.T) {
	var out bytes.Buffer
	p, _ := newTestBar(&out, 0)
	p.Finish()
	if !strings.Contains(out.String(), "100%") || !strings.Contains(out.String(), " - ") {
		t.Errorf("empty copy: %q", out.String())
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a regular file or a buffer is taken for a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Error("/dev/tty is not taken for a terminal")
		}
	}
	// Small copies and non-terminals get no bar.
	s := &shell{errOut: &bytes.Buffer{}, name: "put"}
	if maybeProgress(s, 1<<40) != nil {
		t.Error("a bar on a buffer")
	}
}
