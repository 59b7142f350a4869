package outputs

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/driftwatch/driftwatch/analysis/sketch"
)

// counts counts events (n), those with a property (k), and those per label
// (an error type, a class). It names at most max labels: those with the
// smallest hashes (xxHash64) among the labels seen, a choice that does not
// depend on the order events arrive in or on how they are split over
// partitions, so merged partials name the same labels as one partial of
// every event would. The other labels' events are counted in rest.
type counts struct {
	n, k   uint64
	labels map[string]uint64
	rest   uint64
}

func newCounts() counts { return counts{labels: make(map[string]uint64)} }

// add counts n more of label, within max labels. It does not allocate for
// a label already named.
func (c *counts) add(label string, n uint64, max int) {
	if v, ok := c.labels[label]; ok {
		c.labels[label] = v + n
		return
	}
	if len(c.labels) < max {
		c.labels[label] = n
		return
	}
	// Full: the new label replaces the named one with the largest hash if
	// its own hash is smaller.
	h := xxhash.Sum64String(label)
	var worst string
	var worstHash uint64
	for l := range c.labels {
		if lh := xxhash.Sum64String(l); lh > worstHash || worst == "" {
			worst, worstHash = l, lh
		}
	}
	if h >= worstHash {
		c.rest += n
		return
	}
	c.rest += c.labels[worst]
	delete(c.labels, worst)
	c.labels[label] = n
}

// merge adds o.
func (c *counts) merge(o *counts, max int) {
	c.n += o.n
	c.k += o.k
	c.rest += o.rest
	for l, v := range o.labels {
		c.add(l, v, max)
	}
}

// appendBinary appends n, k, rest and the labels in order.
func (c *counts) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, c.n)
	b = binary.AppendUvarint(b, c.k)
	b = binary.AppendUvarint(b, c.rest)
	b = binary.AppendUvarint(b, uint64(len(c.labels)))
	for _, l := range slices.Sorted(maps.Keys(c.labels)) {
		b = sketch.AppendString(b, l)
		b = binary.AppendUvarint(b, c.labels[l])
	}
	return b
}

// decode reads what appendBinary wrote, checking the bound and that the
// counts add up (labels + rest ≤ k ≤ n).
func (c *counts) decode(d *sketch.Decoder, max int) {
	c.n, c.k, c.rest = d.Uvarint(), d.Uvarint(), d.Uvarint()
	if d.Err() == nil && (c.k > c.n || c.rest > c.k) {
		d.Fail(fmt.Sprintf("%d of %d events, %d unnamed", c.k, c.n, c.rest))
		return
	}
	m := d.Count(max, "labels")
	sum := c.rest
	for range m {
		l, v := d.String(), d.Uvarint()
		if d.Err() != nil {
			return
		}
		if _, dup := c.labels[l]; dup {
			d.Fail(fmt.Sprintf("label %q twice", l))
			return
		}
		c.labels[l] = v
		sum += v
		if sum < v || sum > c.k {
			d.Fail(fmt.Sprintf("labels count more than the %d events", c.k))
			return
		}
	}
}

// subjects returns the labels of c and of ref (nil: none), sorted.
func subjects(c, ref *counts) []string {
	out := slices.Collect(maps.Keys(c.labels))
	if ref != nil {
		for l := range ref.labels {
			if _, ok := c.labels[l]; !ok {
				out = append(out, l)
			}
		}
	}
	slices.Sort(out)
	return out
}
