package sketch

// SiftUp moves the entry at i of a max-heap on keys, whose payloads are
// vals (index for index), up to its place: the bottom-k samples of other
// packages keep their largest key on top with it, as Sample and Rows do.
func SiftUp[T any](keys []uint64, vals []T, i int) { siftUp(keys, vals, i) }

// SiftDown puts key and v, which replace the entry at i of a max-heap on
// keys with payloads vals, in their place below i.
func SiftDown[T any](keys []uint64, vals []T, i int, key uint64, v T) {
	siftDown(keys, vals, i, key, v)
}
