package entra

import (
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Secret holds a password. It never prints: String, GoString, Format (every verb), LogValue, MarshalJSON and
// MarshalText all give "[redacted]". Reveal returns the password, for the one call that checks it.
type Secret struct {
	v string
}

// NewSecret wraps a password.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the password.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether there is no password.
func (s Secret) Empty() bool { return s.v == "" }

// String redacts.
func (Secret) String() string { return redacted }

// GoString redacts.
func (Secret) GoString() string { return redacted }

// Format redacts, whatever the verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

var (
	_ fmt.Stringer   = Secret{}
	_ fmt.GoStringer = Secret{}
	_ fmt.Formatter  = Secret{}
	_ slog.LogValuer = Secret{}
)
