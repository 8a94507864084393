package bench

import (
	"math"
	"testing"
	"time"
)

func TestMedianMinMax(t *testing.T) {
	tests := []struct {
		name           string
		in             []float64
		median, lo, hi float64
	}{
		{"one", []float64{3}, 3, 3, 3},
		{"odd, unsorted", []float64{5, 1, 3}, 3, 1, 5},
		{"even: mean of the middle two", []float64{4, 1, 3, 10}, 3.5, 1, 10},
		{"repeated", []float64{2, 2, 2, 9}, 2, 2, 9},
		{"negative", []float64{-1, -3, -2}, -2, -3, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := Median(tt.in); got != tt.median {
				t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.median)
			}
			lo, hi := MinMax(tt.in)
			if lo != tt.lo || hi != tt.hi {
				t.Errorf("MinMax(%v) = %v, %v, want %v, %v", tt.in, lo, hi, tt.lo, tt.hi)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatalf("Median or MinMax reordered their input: %v, was %v", tt.in, in)
				}
			}
		})
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
	if lo, hi := MinMax(nil); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("MinMax(nil) = %v, %v, want NaN, NaN", lo, hi)
	}
}

func TestPairs(t *testing.T) {
	var p Pairs
	if p.Ratio() != 0 {
		t.Errorf("Ratio of no rounds = %v, want 0", p.Ratio())
	}
	// Ratios ref/measured: 2, 0.5, 1 -> median 1.
	p.Add(time.Second, 2*time.Second)
	p.Add(2*time.Second, time.Second)
	p.Add(time.Second, time.Second)
	if got := p.Ratio(); got != 1 {
		t.Errorf("Ratio = %v, want 1", got)
	}
	m, r := p.Total()
	if m != 4*time.Second || r != 4*time.Second {
		t.Errorf("Total = %v, %v, want 4s, 4s", m, r)
	}
}

func TestMBps(t *testing.T) {
	if got := MBps(1e6, 3, time.Second); got != 3 {
		t.Errorf("MBps(1e6, 3, 1s) = %v, want 3", got)
	}
	if got := MBps(1e6, 1, 0); got != 0 {
		t.Errorf("MBps with no time = %v, want 0", got)
	}
}

func TestPayload(t *testing.T) {
	a, b := Payload(1001, 7), Payload(1001, 7)
	if string(a) != string(b) {
		t.Error("Payload is not the same for the same seed")
	}
	if string(a) == string(Payload(1001, 8)) {
		t.Error("Payload is the same for different seeds")
	}
}
