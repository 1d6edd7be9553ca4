package wire

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"
)

// NewID returns a fresh identifier such as "c-mfq3k1a2-9f86d081e4a1": the
// prefix, the creation time in milliseconds (base 36, so ids sort by age)
// and 48 random bits, so ids made on different machines do not collide.
func NewID(prefix string) string {
	var r [6]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + "-" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-" + hex.EncodeToString(r[:])
}
