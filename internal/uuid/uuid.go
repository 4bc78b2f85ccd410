// Package uuid formats the GUIDs Microsoft's services use: random ones (request ids, object ids) and ones derived
// from a hash (stable ids), all in the 8-4-4-4-12 lower-case form with the version 4 and RFC 4122 variant bits.
package uuid

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// New returns a random version 4 UUID.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24 and later)
	return FromBytes(b)
}

// FromBytes formats b (a hash prefix, say) as a version 4 UUID, setting the version and variant bits, so that the
// same bytes give the same id.
func FromBytes(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return Dashed(hex.EncodeToString(b[:]))
}

// Dashed writes a GUID given as 32 hex digits, with or without dashes, in its dashed form; any other string is
// returned as it is.
func Dashed(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	if len(id) != 32 {
		return id
	}
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}
