package main

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestCountWords(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]int64
	}{
		{"empty", "", map[string]int64{}},
		{"separators only", " \n\t.,;-- ", map[string]int64{}},
		{"simple", "a b a", map[string]int64{"a": 2, "b": 1}},
		{"case and punctuation", "The cat; the CAT, the—dog!", map[string]int64{"the": 3, "cat": 2, "dog": 1}},
		{"digits", "route 66 and r2d2", map[string]int64{"route": 1, "66": 1, "and": 1, "r2d2": 1}},
		{"unicode", "Über über straße", map[string]int64{"über": 2, "straße": 1}},
		{"invalid utf8", "ab\xffcd", map[string]int64{"ab": 1, "cd": 1}},
		{"no trailing separator", "end", map[string]int64{"end": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]int64{}
			if err := CountWords(strings.NewReader(tt.in), got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// One byte at a time too, so that words and runes split across reads count once.
			got = map[string]int64{}
			if err := CountWords(iotest.OneByteReader(strings.NewReader(tt.in)), got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("one byte at a time (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteCounts(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCounts(&b, map[string]int64{"zeta": 1, "alpha": 10, "mid": 3}); err != nil {
		t.Fatal(err)
	}
	if want := "alpha\t10\nmid\t3\nzeta\t1\n"; b.String() != want {
		t.Errorf("WriteCounts = %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := WriteCounts(&b, nil); err != nil || b.Len() != 0 {
		t.Errorf("WriteCounts of nothing = %q, %v", b.String(), err)
	}
}

// FuzzCountWords checks that the count does not depend on how the input is split into
// reads, and that every counted word is lower-case and non-empty.
func FuzzCountWords(f *testing.F) {
	f.Add("The cat; the CAT, the—dog! Über\xff")
	f.Fuzz(func(t *testing.T, in string) {
		whole, bytewise := map[string]int64{}, map[string]int64{}
		if err := CountWords(strings.NewReader(in), whole); err != nil {
			t.Skip(err)
		}
		if err := CountWords(iotest.OneByteReader(strings.NewReader(in)), bytewise); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(whole, bytewise); diff != "" {
			t.Errorf("whole vs one byte at a time (-whole +bytewise):\n%s", diff)
		}
		for w := range whole {
			if w == "" || strings.ToLower(w) != w {
				t.Errorf("word %q is empty or not lower-case", w)
			}
		}
	})
}
