package main

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func generate(t *testing.T, size int64, seed uint64, vocab int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Generate(&b, size, seed, vocab); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		size  int64
		vocab int
	}{{0, 10}, {1, 10}, {2, 10}, {100, 1}, {4096, 50}, {1<<20 + 7, 5000}}
	for _, tt := range tests {
		a := generate(t, tt.size, 7, tt.vocab)
		if int64(len(a)) != tt.size {
			t.Errorf("Generate(size %d) wrote %d bytes", tt.size, len(a))
		}
		if tt.size > 0 && a[len(a)-1] != '\n' {
			t.Errorf("Generate(size %d) does not end with a newline", tt.size)
		}
		if b := generate(t, tt.size, 7, tt.vocab); !bytes.Equal(a, b) {
			t.Errorf("Generate(size %d) is not deterministic", tt.size)
		}
		words := map[string]bool{}
		for _, w := range strings.Fields(string(a)) {
			words[w] = true
		}
		if len(words) > tt.vocab {
			t.Errorf("Generate(size %d, vocab %d) used %d distinct words", tt.size, tt.vocab, len(words))
		}
	}
	if a, b := generate(t, 4096, 1, 100), generate(t, 4096, 2, 100); bytes.Equal(a, b) {
		t.Error("different seeds gave the same text")
	}
	if err := Generate(&bytes.Buffer{}, -1, 1, 1); err == nil {
		t.Error("Generate with a negative size succeeded")
	}
}

// TestGenerateSkewed checks the Zipf shape: the most frequent word is far more frequent
// than the median one.
func TestGenerateSkewed(t *testing.T) {
	counts, total := map[string]int{}, 0
	for _, w := range strings.Fields(string(generate(t, 256<<10, 3, 1000))) {
		counts[w]++
		total++
	}
	maxN := 0
	for _, n := range counts {
		maxN = max(maxN, n)
	}
	if avg := total / len(counts); maxN < 10*avg {
		t.Errorf("most frequent word appears %d times, the average %d: not skewed", maxN, avg)
	}
}

func TestVocabulary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := Vocabulary(r, 3000)
	seen := map[string]bool{}
	for _, w := range words {
		if seen[w] || len(w) < 4 {
			t.Fatalf("word %q repeated or too short", w)
		}
		seen[w] = true
	}
}
