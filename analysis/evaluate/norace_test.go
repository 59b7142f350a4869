//go:build !race

package evaluate

// raceEnabled: the race detector slows the long statistical runs tenfold.
const raceEnabled = false
