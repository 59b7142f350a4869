package sketch

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Labels counts events (N), those with a property (K), and those per label
// (an error type, a class, a finish reason). It names at most max labels:
// those with the smallest hashes (xxHash64) among the labels seen, a choice
// that does not depend on the order events arrive in or on how they are
// split over partitions, so merged states name the same labels as one state
// of every event would. The other labels' events are counted in Rest.
type Labels struct {
	N, K  uint64
	Named map[string]uint64
	Rest  uint64
	// own maps each label Add named to Named's key, a copy Add made: Add
	// assigns with that key, since a map assignment stores the key it is
	// given and the caller's label may share a message's bytes.
	own map[string]string
}

// NewLabels returns an empty state.
func NewLabels() Labels { return Labels{Named: make(map[string]uint64)} }

// Add counts n more of label, within max labels. It does not allocate for a
// label already named.
func (c *Labels) Add(label string, n uint64, max int) {
	if k, ok := c.own[label]; ok {
		c.Named[k] += n
		return
	}
	if v, ok := c.Named[label]; ok { // named by Merge or Decode
		c.Named[keep(&c.own, label)] = v + n
		return
	}
	if len(c.Named) < max {
		c.Named[keep(&c.own, label)] = n
		return
	}
	// Full: the new label replaces the named one with the largest hash if
	// its own hash is smaller.
	h := xxhash.Sum64String(label)
	var worst string
	var worstHash uint64
	for l := range c.Named {
		if lh := xxhash.Sum64String(l); lh > worstHash || worst == "" {
			worst, worstHash = l, lh
		}
	}
	if h >= worstHash {
		c.Rest += n
		return
	}
	c.Rest += c.Named[worst]
	delete(c.Named, worst)
	delete(c.own, worst)
	c.Named[keep(&c.own, label)] = n
}

// Merge adds o.
func (c *Labels) Merge(o *Labels, max int) {
	c.N += o.N
	c.K += o.K
	c.Rest += o.Rest
	for l, v := range o.Named {
		c.Add(l, v, max)
	}
}

// AppendBinary appends N, K, Rest and the labels in order.
func (c *Labels) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, c.N)
	b = binary.AppendUvarint(b, c.K)
	b = binary.AppendUvarint(b, c.Rest)
	b = binary.AppendUvarint(b, uint64(len(c.Named)))
	for _, l := range slices.Sorted(maps.Keys(c.Named)) {
		b = AppendString(b, l)
		b = binary.AppendUvarint(b, c.Named[l])
	}
	return b
}

// Decode reads what AppendBinary wrote into an empty state, checking the
// bound and that the counts add up (labels + Rest ≤ K ≤ N).
func (c *Labels) Decode(d *Decoder, max int) {
	c.N, c.K, c.Rest = d.Uvarint(), d.Uvarint(), d.Uvarint()
	if d.Err() == nil && (c.K > c.N || c.Rest > c.K) {
		d.Fail(fmt.Sprintf("%d of %d events, %d unnamed", c.K, c.N, c.Rest))
		return
	}
	m := d.Count(max, "labels")
	sum := c.Rest
	for range m {
		l, v := d.String(), d.Uvarint()
		if d.Err() != nil {
			return
		}
		if _, dup := c.Named[l]; dup {
			d.Fail(fmt.Sprintf("label %q twice", l))
			return
		}
		c.Named[l] = v
		sum += v
		if sum < v || sum > c.K {
			d.Fail(fmt.Sprintf("labels count more than the %d events", c.K))
			return
		}
	}
}

// Union returns the labels named by c and by ref (nil: none), sorted.
func (c *Labels) Union(ref *Labels) []string {
	out := slices.Collect(maps.Keys(c.Named))
	if ref != nil {
		for l := range ref.Named {
			if _, ok := c.Named[l]; !ok {
				out = append(out, l)
			}
		}
	}
	slices.Sort(out)
	return out
}
