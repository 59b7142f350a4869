package generator

import (
	"crypto/sha256"
	"encoding/hex"
)

// floodExample is what the example an AttackFlood submits hashes: its
// content_sha256 is the SHA-256 of these bytes.
const floodExample = "the flooded example"

// FloodContentSHA256 returns the content_sha256 (hex) of the example an
// AttackFlood submits again and again: poisoning_flood names its group
// "content:" followed by it.
func FloodContentSHA256() string {
	sum := sha256.Sum256([]byte(floodExample))
	return hex.EncodeToString(sum[:])
}
