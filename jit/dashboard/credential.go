package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
)

// MinPasswordLen is the shortest password the password file may hold in clear (a hash is taken as it is).
const MinPasswordLen = 12

// rememberFor is how long a password a hash accepted is accepted again without the hash's key derivation: the
// browser sends it with every request (the page, its assets, every refresh).
const rememberFor = 10 * time.Minute

// credential checks the dashboard's password. It keeps no password in clear: a password file's password is held as
// an HMAC under a key made at start, and so are the passwords a hash accepted.
type credential struct {
	key  []byte
	mac  []byte       // HMAC of the password, when the file holds one
	hash *pwhash.Hash // when the file holds a hash

	mu       sync.Mutex
	accepted map[string]time.Time // HMACs of the passwords hash accepted, and when
}

// parseCredential reads the password file's content. Errors never quote it.
func parseCredential(content string) (*credential, error) {
	s := strings.TrimSpace(content)
	c := &credential{key: make([]byte, 32), accepted: map[string]time.Time{}}
	rand.Read(c.key)
	if s == "" {
		return nil, idshift.Invalid("dashboard password", "required (the dashboard has no default password)")
	}
	if format, ok := pwhash.Detect(s); ok || strings.HasPrefix(s, "$2") || strings.HasPrefix(s, "$argon2") {
		if format != "bcrypt" && format != "argon2" {
			return nil, idshift.Invalid("dashboard password", "a hash of a kind not accepted (%s): give a bcrypt or argon2id hash, or the password", orUnknown(format))
		}
		h, err := pwhash.Parse(s, pwhash.Options{})
		if err != nil {
			return nil, idshift.Invalid("dashboard password", "the %s hash does not parse: %v", format, err)
		}
		c.hash = h
		return c, nil
	}
	if utf8.RuneCountInString(s) < MinPasswordLen {
		return nil, idshift.Invalid("dashboard password", "at least %d characters", MinPasswordLen)
	}
	c.mac = c.sum(s)
	return c, nil
}

func orUnknown(format string) string {
	if format == "" {
		return "unknown"
	}
	return format
}

func (c *credential) sum(password string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(password))
	return m.Sum(nil)
}

// check reports whether user and password are the dashboard's, in constant time; an error means the hash could not
// be checked.
func (c *credential) check(ctx context.Context, user, password string) (bool, error) {
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(User)) == 1
	got := c.sum(password)
	if c.hash == nil {
		return hmac.Equal(got, c.mac) && userOK, nil
	}
	now := time.Now()
	c.mu.Lock()
	at, seen := c.accepted[string(got)]
	if seen && now.Sub(at) > rememberFor {
		delete(c.accepted, string(got))
		seen = false
	}
	c.mu.Unlock()
	if seen {
		return userOK, nil
	}
	ok, err := c.hash.Verify(ctx, password)
	if err != nil || !ok {
		return false, err
	}
	c.mu.Lock()
	if len(c.accepted) >= 8 {
		clear(c.accepted)
	}
	c.accepted[string(got)] = now
	c.mu.Unlock()
	return userOK, nil
}
