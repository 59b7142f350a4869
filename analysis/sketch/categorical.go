package sketch

import "strings"

// Categorical counts one categorical feature's values over one window.
//
// With a reference, values are counted against the reference's categories
// (Counts, in reference order); a value outside them is counted in Other and,
// when the reference saw every value of its warm-up (no overflow), also in
// Unseen. Without a reference (warm-up), up to a bounded number of distinct
// values are counted in Tracked and the rest in Other.
type Categorical struct {
	// Count is the number of observations.
	Count uint64
	// Counts are per reference category; nil without a reference.
	Counts []uint64
	// Other counts values outside the reference categories, or beyond the
	// tracked bound during warm-up.
	Other uint64
	// Unseen counts values the reference never saw.
	Unseen uint64
	// Tracked counts values during warm-up; nil with a reference.
	Tracked map[string]uint64
	// NewValues holds up to a few values the reference never saw, with counts,
	// so that a report can name them.
	NewValues map[string]uint64
	// ownTracked and ownNew map each value Observe keeps in Tracked and in
	// NewValues to its key there, a copy Observe made: Observe assigns with
	// that key, since a map assignment stores the key it is given and the
	// caller's value may share a message's bytes.
	ownTracked, ownNew map[string]string
}

// MaxNewValues bounds Categorical.NewValues.
const MaxNewValues = 8

// NewCategorical returns an empty state for a reference with the given
// number of categories, or a warm-up state when ref is nil.
func NewCategorical(ref *CategoryIndex) Categorical {
	if ref == nil {
		return Categorical{Tracked: make(map[string]uint64)}
	}
	return Categorical{Counts: make([]uint64, ref.Len())}
}

// CategoryIndex is the fixed list of categories a Categorical state counts
// against, usually a reference's.
type CategoryIndex struct {
	pos map[string]int
	// few holds the categories, in order, when they are at most
	// maxScanned: a scan comparing lengths first finds a value among a
	// handful faster than hashing it (a device type, a channel, a class).
	few      []string
	n        int
	complete bool
}

// maxScanned is the most categories an index finds values among by a scan.
const maxScanned = 8

// find returns the position of category v.
func (c *CategoryIndex) find(v string) (int, bool) {
	if c.few != nil {
		for i, x := range c.few {
			if len(x) == len(v) && x == v {
				return i, true
			}
		}
		return 0, false
	}
	i, ok := c.pos[v]
	return i, ok
}

// NewCategoryIndex returns the index of categories, in that order. complete
// says that they are every value the reference saw, so that any other value
// is new (counted in Unseen and named in NewValues).
func NewCategoryIndex(categories []string, complete bool) *CategoryIndex {
	c := &CategoryIndex{pos: make(map[string]int, len(categories)), n: len(categories), complete: complete}
	for i, v := range categories {
		// A category listed twice (a reference read back from storage
		// is not checked for it) counts at its first position; its later
		// ones stay 0, and every position is within Counts.
		if _, dup := c.pos[v]; !dup {
			c.pos[v] = i
		}
	}
	if len(categories) <= maxScanned {
		c.few = categories
	}
	return c
}

// Len returns the number of categories (positions of Counts).
func (c *CategoryIndex) Len() int { return c.n }

// Observe counts value v. maxTracked bounds the distinct values kept during
// warm-up. It allocates only when a new distinct value is first tracked,
// and keeps a copy of v then, never v itself.
func (s *Categorical) Observe(v string, ref *CategoryIndex, maxTracked int) {
	s.Count++
	if ref == nil {
		if k, ok := s.ownTracked[v]; ok {
			s.Tracked[k]++
		} else if c, ok := s.Tracked[v]; ok { // tracked by Merge or Decode
			s.Tracked[keep(&s.ownTracked, v)] = c + 1
		} else if len(s.Tracked) < maxTracked {
			s.Tracked[keep(&s.ownTracked, v)] = 1
		} else {
			s.Other++
		}
		return
	}
	if i, ok := ref.find(v); ok {
		s.Counts[i]++
		return
	}
	s.Other++
	if ref.complete {
		s.Unseen++
		s.addNew(v, 1)
	}
}

// addNew counts n of v, a value the reference never saw, in NewValues
// while it has room.
func (s *Categorical) addNew(v string, n uint64) {
	if k, ok := s.ownNew[v]; ok {
		s.NewValues[k] += n
	} else if c, ok := s.NewValues[v]; ok { // named by Merge or Decode
		s.NewValues[keep(&s.ownNew, v)] = c + n
	} else if len(s.NewValues) < MaxNewValues {
		if s.NewValues == nil {
			s.NewValues = make(map[string]uint64)
		}
		s.NewValues[keep(&s.ownNew, v)] = n
	}
}

// keep returns a copy of v and remembers it in *own.
func keep(own *map[string]string, v string) string {
	k := strings.Clone(v)
	if *own == nil {
		*own = make(map[string]string)
	}
	(*own)[k] = k
	return k
}

// ObserveN counts value v n times against ref (not nil), as n calls of
// Observe would.
func (s *Categorical) ObserveN(v string, n uint64, ref *CategoryIndex) {
	s.Count += n
	if i, ok := ref.find(v); ok {
		s.Counts[i] += n
		return
	}
	s.Other += n
	if ref.complete {
		s.Unseen += n
		s.addNew(v, n)
	}
}

// Merge adds o, a state of a disjoint set of events with the same reference,
// to s. During warm-up the tracked values stay bounded by maxTracked.
func (s *Categorical) Merge(o *Categorical, maxTracked int) {
	s.Count += o.Count
	s.Other += o.Other
	s.Unseen += o.Unseen
	if s.Counts != nil && len(o.Counts) == len(s.Counts) {
		for i, c := range o.Counts {
			s.Counts[i] += c
		}
	}
	for v, c := range o.Tracked {
		if have, ok := s.Tracked[v]; ok {
			s.Tracked[v] = have + c
		} else if len(s.Tracked) < maxTracked {
			s.Tracked[v] = c
		} else {
			s.Other += c
		}
	}
	for v, c := range o.NewValues {
		if have, ok := s.NewValues[v]; ok {
			s.NewValues[v] = have + c
		} else if len(s.NewValues) < MaxNewValues {
			if s.NewValues == nil {
				s.NewValues = make(map[string]uint64)
			}
			s.NewValues[v] = c
		}
	}
}
