package bench

import (
	"math"
	"slices"
	"time"
)

// Median returns the median of xs (the mean of the two middle values for an even count),
// or NaN when xs is empty. It does not modify xs.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MinMax returns the smallest and the largest of xs, or NaN twice when xs is empty.
func MinMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(xs), slices.Max(xs)
}

// Pairs collects the durations of a measured part and of its reference, round by round,
// on a shared machine where one slow round must not decide the figure. The zero value is
// empty and ready; a Pairs is not safe for concurrent use.
type Pairs struct {
	Measured, Ref []time.Duration
}

// Add records one round.
func (p *Pairs) Add(measured, ref time.Duration) {
	p.Measured = append(p.Measured, measured)
	p.Ref = append(p.Ref, ref)
}

// Total returns the sums of the measured and the reference durations.
func (p *Pairs) Total() (measured, ref time.Duration) {
	for i := range p.Measured {
		measured += p.Measured[i]
		ref += p.Ref[i]
	}
	return measured, ref
}

// Ratio returns the median over the rounds of ref/measured: the measured part's speed
// relative to its reference (1 is as fast). It is 0 without rounds.
func (p *Pairs) Ratio() float64 {
	r := make([]float64, 0, len(p.Measured))
	for i := range p.Measured {
		if p.Measured[i] > 0 {
			r = append(r, p.Ref[i].Seconds()/p.Measured[i].Seconds())
		}
	}
	if len(r) == 0 {
		return 0
	}
	return Median(r)
}

// MBps returns the throughput of moving bytes n times in d, in MB/s (10^6 bytes); 0 when
// d is not positive.
func MBps(bytes int64, n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) * float64(n) / d.Seconds() / 1e6
}
