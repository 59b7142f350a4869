//go:build !race

package poisoning

const raceEnabled = false
