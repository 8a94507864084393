package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCounts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]int64
		wantErr string
	}{
		{"empty", "", map[string]int64{}, ""},
		{"lines", "a\t3\nb\t1\n\nc\t0", map[string]int64{"a": 3, "b": 1, "c": 0}, ""},
		{"repeated words add up", "a\t3\na\t4\n", map[string]int64{"a": 7}, ""},
		{"no tab", "a\t1\nb 2\n", nil, "line 2: no tab"},
		{"bad count", "a\tx\n", nil, "line 1: bad count"},
		{"negative count", "a\t-1\n", nil, "bad count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]int64{}
			err := ParseCounts(strings.NewReader(tt.in), got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTop(t *testing.T) {
	counts := map[string]int64{"d": 1, "b": 5, "a": 5, "c": 9, "e": 0}
	tests := []struct {
		n    int
		want []Entry
	}{
		{1, []Entry{{"c", 9}}},
		{3, []Entry{{"c", 9}, {"a", 5}, {"b", 5}}},
		{10, []Entry{{"c", 9}, {"a", 5}, {"b", 5}, {"d", 1}, {"e", 0}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Top(counts, tt.n)); diff != "" {
			t.Errorf("Top(%d) (-want +got):\n%s", tt.n, diff)
		}
	}
	if got := Top(nil, 3); len(got) != 0 {
		t.Errorf("Top of nothing = %v", got)
	}
}

func TestWriteTop(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTop(&b, []Entry{{"c", 9}, {"a", 5}}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "c\t9\na\t5\n" {
		t.Errorf("WriteTop = %q", b.String())
	}
}

// FuzzParseCounts checks that a parsed input written back by WriteTop parses to the same
// counts.
func FuzzParseCounts(f *testing.F) {
	f.Add("a\t3\nb\t1\n\nc\t0")
	f.Add("x\t-1\n")
	f.Fuzz(func(t *testing.T, in string) {
		counts := map[string]int64{}
		if err := ParseCounts(strings.NewReader(in), counts); err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteTop(&b, Top(counts, len(counts))); err != nil {
			t.Fatal(err)
		}
		again := map[string]int64{}
		if err := ParseCounts(&b, again); err != nil {
			t.Fatalf("parse of WriteTop's output: %v\n%q", err, b.String())
		}
		if diff := cmp.Diff(counts, again); diff != "" {
			t.Errorf("(-first +again):\n%s", diff)
		}
	})
}
