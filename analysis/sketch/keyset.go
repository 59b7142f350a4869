package sketch

// KeySet is a set of sampling keys (hashes, uniformly spread), each with an
// int32 value (a row), for telling whether a bottom-k sample holds a key,
// and where, without scanning it: open
// addressing with linear probing, deletion by backward shift. Its room is
// set once, for the most keys it will hold; adding and removing then never
// allocate.
type KeySet struct {
	slots []uint64 // 0: empty; the key 0 is kept in zero
	vals  []int32  // a value per slot (SetValue, Value)
	zero  bool
	zval  int32
	n     int
}

// Reserve makes room for n keys (at least twice as many slots, a power of
// two), keeping those held. It allocates only when the room grows.
func (s *KeySet) Reserve(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	if size <= len(s.slots) {
		return
	}
	old, oldVals := s.slots, s.vals
	s.slots, s.vals = make([]uint64, size), make([]int32, size)
	s.n = 0
	zero := s.zero
	for i, k := range old {
		if k != 0 {
			s.SetValue(k, oldVals[i])
		}
	}
	if zero {
		s.n++
	}
}

// SetValue adds key with value v, or sets the value of key held; the set
// must have room (Reserve) for it.
func (s *KeySet) SetValue(key uint64, v int32) {
	if key == 0 {
		if !s.zero {
			s.zero = true
			s.n++
		}
		s.zval = v
		return
	}
	mask := uint64(len(s.slots) - 1)
	for i := key & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case key:
			s.vals[i] = v
			return
		case 0:
			s.slots[i], s.vals[i] = key, v
			s.n++
			return
		}
	}
}

// Value returns the value of key (SetValue; 0 for one added by Add), and
// whether it is held.
func (s *KeySet) Value(key uint64) (int32, bool) {
	if key == 0 {
		if !s.zero {
			return 0, false
		}
		return s.zval, true
	}
	if len(s.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(s.slots) - 1)
	for i := key & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case key:
			return s.vals[i], true
		case 0:
			return 0, false
		}
	}
}

// Len returns the number of keys held.
func (s *KeySet) Len() int { return s.n }

// Clear removes every key, keeping the room.
func (s *KeySet) Clear() {
	clear(s.slots)
	clear(s.vals)
	s.zero, s.zval, s.n = false, 0, 0
}

// Has reports whether key is held.
func (s *KeySet) Has(key uint64) bool {
	_, ok := s.Value(key)
	return ok
}

// Add adds key (with value 0 when new); the set must have room (Reserve)
// for it.
func (s *KeySet) Add(key uint64) {
	if v, ok := s.Value(key); ok {
		s.SetValue(key, v)
		return
	}
	s.SetValue(key, 0)
}

// Remove removes key when it is held.
func (s *KeySet) Remove(key uint64) {
	if key == 0 {
		if s.zero {
			s.zero, s.zval = false, 0
			s.n--
		}
		return
	}
	if len(s.slots) == 0 {
		return
	}
	mask := uint64(len(s.slots) - 1)
	i := key & mask
	for s.slots[i] != key {
		if s.slots[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	s.n--
	// Backward shift: move up every key after the hole that probed past it.
	for j := (i + 1) & mask; s.slots[j] != 0; j = (j + 1) & mask {
		home := s.slots[j] & mask
		// The key at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s.slots[i], s.vals[i] = s.slots[j], s.vals[j]
			i = j
		}
	}
	s.slots[i], s.vals[i] = 0, 0
}
