package pwhash

import (
	"bytes"
	"testing"

	xargon2 "github.com/go-crypt/x/argon2"
	"golang.org/x/crypto/argon2"
)

// TestArgon2Portable checks the portable Argon2 against golang.org/x/crypto/argon2 (argon2i, argon2id) and
// github.com/go-crypt/x/argon2 (argon2d) where both apply (version 0x13), over lane counts, memory sizes that need rounding, passes and output lengths.
func TestArgon2Portable(t *testing.T) {
	pw, salt := []byte("password"), []byte("somesaltsomesalt")
	for _, c := range []struct {
		tm, m uint32
		p     uint8
		n     uint32
	}{{1, 8, 1, 32}, {2, 64, 1, 16}, {3, 70, 2, 64}, {1, 256, 4, 100}, {2, 33, 4, 32}} {
		if got, want := argon2Key(argonI, 0x13, pw, salt, c.tm, c.m, c.p, c.n), argon2.Key(pw, salt, c.tm, c.m, c.p, c.n); !bytes.Equal(got, want) {
			t.Errorf("argon2i %+v differs", c)
		}
		if got, want := argon2Key(argonID, 0x13, pw, salt, c.tm, c.m, c.p, c.n), argon2.IDKey(pw, salt, c.tm, c.m, c.p, c.n); !bytes.Equal(got, want) {
			t.Errorf("argon2id %+v differs", c)
		}
		if got, want := argon2Key(argonD, 0x13, pw, salt, c.tm, c.m, c.p, c.n), xargon2.DKey(pw, salt, c.tm, c.m, uint32(c.p), c.n); !bytes.Equal(got, want) {
			t.Errorf("argon2d %+v differs", c)
		}
	}
}
