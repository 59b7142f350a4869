package sketch

import "math"

// Numeric summarises one numeric feature over one window: its count,
// moments (Welford), extremes, exact counts in the reference bins and a
// bounded uniform sample.
type Numeric struct {
	// Count is the number of observations.
	Count uint64
	// Mean is their mean.
	Mean float64
	// M2 is the sum of squared deviations from the mean.
	M2 float64
	// Min and Max are the extremes; +Inf and -Inf when Count is 0.
	Min, Max float64
	// Bins counts observations per reference bin (len(edges)+1); nil while
	// the model has no reference.
	Bins []uint64
	// Sample is a bounded uniform sample of the observations.
	Sample Sample
}

// NewNumeric returns an empty state with a sample of capacity k and the
// given number of bins (none when bins is 0).
func NewNumeric(k, bins int) Numeric {
	s := Numeric{Min: math.Inf(1), Max: math.Inf(-1), Sample: NewSample(k)}
	if bins > 0 {
		s.Bins = make([]uint64, bins)
	}
	return s
}

// Observe adds value v, sampled under key, counted in bin (ignored when the
// state has no bins). The caller bins v, against the edges it made the
// state for. It does not allocate once the sample is full.
func (s *Numeric) Observe(v float64, key uint64, bin int) {
	s.ObserveUnsampled(v, bin)
	s.Sample.Add(key, v)
}

// ObserveUnsampled adds value v, counted in bin, to the count, moments,
// extremes and bins, leaving the sample alone: for a caller that samples
// whole events (Rows) and fills Sample from them. It does not allocate.
func (s *Numeric) ObserveUnsampled(v float64, bin int) {
	s.Count++
	d := v - s.Mean
	s.Mean += d / float64(s.Count)
	s.M2 += d * (v - s.Mean)
	if v < s.Min {
		s.Min = v
	}
	if v > s.Max {
		s.Max = v
	}
	if s.Bins != nil {
		s.Bins[bin]++
	}
}

// Variance returns the population variance (ddof 0), or 0 when Count is 0.
func (s *Numeric) Variance() float64 {
	if s.Count == 0 {
		return 0
	}
	return s.M2 / float64(s.Count)
}

// Merge adds o, a state of a disjoint set of events with the same bins, to s
// (Chan et al.'s parallel update for the moments).
func (s *Numeric) Merge(o *Numeric) {
	s.MergeUnsampled(o)
	s.Sample.Merge(&o.Sample)
}

// MergeUnsampled is Merge without the samples: for a caller that merges
// samples of whole events (Rows.Merge) and fills Sample from them.
func (s *Numeric) MergeUnsampled(o *Numeric) {
	if o.Count == 0 {
		return
	}
	if s.Count == 0 {
		s.Count, s.Mean, s.M2 = o.Count, o.Mean, o.M2
	} else {
		n := float64(s.Count + o.Count)
		d := o.Mean - s.Mean
		s.M2 += o.M2 + d*d*float64(s.Count)*float64(o.Count)/n
		s.Mean += d * float64(o.Count) / n
		s.Count += o.Count
	}
	s.Min = math.Min(s.Min, o.Min)
	s.Max = math.Max(s.Max, o.Max)
	if s.Bins != nil && len(o.Bins) == len(s.Bins) {
		for i, c := range o.Bins {
			s.Bins[i] += c
		}
	}
}
