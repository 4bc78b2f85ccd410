package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Identity is one way a user signs in (Graph's objectIdentity).
type Identity struct {
	SignInType       string `json:"signInType"`
	Issuer           string `json:"issuer"`
	IssuerAssignedID string `json:"issuerAssignedId"`
}

// PasswordProfile is a user's password settings. The password is a secret: String, GoString and LogValue redact it.
type PasswordProfile struct {
	Password                      string `json:"password,omitempty"`
	ForceChangePasswordNextSignIn bool   `json:"forceChangePasswordNextSignIn"`
}

// String never reveals the password.
func (p PasswordProfile) String() string {
	return fmt.Sprintf("{password:[redacted] forceChangePasswordNextSignIn:%t}", p.ForceChangePasswordNextSignIn)
}

// GoString never reveals the password, even through %#v.
func (p PasswordProfile) GoString() string { return "graph.PasswordProfile" + p.String() }

// LogValue never reveals the password.
func (p PasswordProfile) LogValue() slog.Value {
	return slog.GroupValue(slog.String("password", "[redacted]"),
		slog.Bool("forceChangePasswordNextSignIn", p.ForceChangePasswordNextSignIn))
}

// ExtensionPrefix starts the name of every extension attribute: extension_{appId without dashes}_{name}.
const ExtensionPrefix = "extension_"

// ExtensionName returns the full name of an extension attribute of the app whose appId is given (with or without
// dashes).
func ExtensionName(appID, name string) string {
	return ExtensionPrefix + strings.ReplaceAll(strings.ToLower(appID), "-", "") + "_" + name
}

// User is a Graph user with the properties idshift reads and writes.
//
// Extensions holds extension attributes by their full name ("extension_{appIdNoDashes}_{name}"); they are
// marshalled as top-level properties, in name order, and unmarshalled from every top-level property whose name
// starts with "extension_". Values are bool, int (any Go integer type; Graph's Integer is 32-bit), string or
// time.Time (written as ISO 8601 UTC); nil marshals as null, which clears the attribute in a PATCH. Unmarshalled
// values are bool, int64, float64 (a non-integral number) or string (DateTime values stay strings).
type User struct {
	ID                string           `json:"id,omitempty"`
	UserPrincipalName string           `json:"userPrincipalName,omitempty"`
	DisplayName       string           `json:"displayName,omitempty"`
	GivenName         string           `json:"givenName,omitempty"`
	Surname           string           `json:"surname,omitempty"`
	Mail              string           `json:"mail,omitempty"`
	MobilePhone       string           `json:"mobilePhone,omitempty"`
	OtherMails        []string         `json:"otherMails,omitempty"`
	AccountEnabled    *bool            `json:"accountEnabled,omitempty"`
	Identities        []Identity       `json:"identities,omitempty"`
	PasswordProfile   *PasswordProfile `json:"passwordProfile,omitempty"`
	PasswordPolicies  string           `json:"passwordPolicies,omitempty"`
	Extensions        map[string]any   `json:"-"`
}

// userFields has User's JSON fields without its methods.
type userFields User

// LogValue shows a user in logs without its password.
func (u *User) LogValue() slog.Value {
	if u == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("id", u.ID), slog.String("userPrincipalName", u.UserPrincipalName),
		slog.Int("identities", len(u.Identities)))
}

// MarshalJSON writes the user's properties and its extension attributes as top-level properties.
func (u User) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(userFields(u))
	if err != nil || len(u.Extensions) == 0 {
		return b, err
	}
	return appendExtensions(b, u.Extensions)
}

// appendExtensions splices extension attributes, sorted by name, into the JSON object b.
func appendExtensions(b []byte, ext map[string]any) ([]byte, error) {
	names := make([]string, 0, len(ext))
	for k := range ext {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]byte, 0, len(b)+64*len(names))
	out = append(out, b[:len(b)-1]...) // drop '}'
	first := len(b) == 2
	for _, k := range names {
		if !strings.HasPrefix(k, ExtensionPrefix) {
			return nil, fmt.Errorf("graph: extension %q: name must start with %q", k, ExtensionPrefix)
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendJSONString(out, k)
		out = append(out, ':')
		var err error
		if out, err = appendExtensionValue(out, ext[k]); err != nil {
			return nil, fmt.Errorf("graph: extension %q: %w", k, err)
		}
	}
	return append(out, '}'), nil
}

// ExtensionTimeFormat is how DateTime extension values are written: ISO 8601 in UTC.
const ExtensionTimeFormat = "2006-01-02T15:04:05Z"

func appendExtensionValue(out []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(out, "null"...), nil
	case bool:
		if x {
			return append(out, "true"...), nil
		}
		return append(out, "false"...), nil
	case string:
		return appendJSONString(out, x), nil
	case int:
		return strconv.AppendInt(out, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(out, x, 10), nil
	case int32:
		return strconv.AppendInt(out, int64(x), 10), nil
	case int8, int16, uint8, uint16, uint32, uint64, uint:
		return fmt.Appendf(out, "%d", x), nil
	case float64:
		// Only as decoded from a number; ValidateUser refuses floats in what is sent.
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("value %v is not a number", x)
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.AppendInt(out, int64(x), 10), nil
		}
		return strconv.AppendFloat(out, x, 'g', -1, 64), nil
	case time.Time:
		return appendJSONString(out, x.UTC().Format(ExtensionTimeFormat)), nil
	case json.RawMessage:
		if !json.Valid(x) {
			return nil, fmt.Errorf("invalid raw JSON")
		}
		return append(out, x...), nil
	}
	return nil, fmt.Errorf("unsupported type %T (want bool, integer, string or time.Time)", v)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(out []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			simple = false
			break
		}
	}
	if simple {
		out = append(out, '"')
		out = append(out, s...)
		return append(out, '"')
	}
	b, _ := json.Marshal(s) // a string always marshals
	return append(out, b...)
}

// UnmarshalJSON reads the user's properties and collects every top-level "extension_…" property into Extensions.
func (u *User) UnmarshalJSON(b []byte) error {
	var f userFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*u = User(f)
	if !bytes.Contains(b, []byte(`"`+ExtensionPrefix)) {
		return nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, raw := range all {
		if !strings.HasPrefix(k, ExtensionPrefix) {
			continue
		}
		v, err := decodeExtensionValue(raw)
		if err != nil {
			return fmt.Errorf("graph: extension %q: %w", k, err)
		}
		if v == nil {
			continue
		}
		if u.Extensions == nil {
			u.Extensions = make(map[string]any)
		}
		u.Extensions[k] = v
	}
	return nil
}

func decodeExtensionValue(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch raw[0] {
	case 't', 'f':
		var v bool
		err := json.Unmarshal(raw, &v)
		return v, err
	case '"':
		var v string
		err := json.Unmarshal(raw, &v)
		return v, err
	case '[', '{':
		var v any
		err := json.Unmarshal(raw, &v)
		return v, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	return n.Float64()
}

// normalizePatch returns a copy of a PATCH body with time.Time values written as ISO 8601 UTC.
func normalizePatch(patch map[string]any) map[string]any {
	out := make(map[string]any, len(patch))
	for k, v := range patch {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(ExtensionTimeFormat)
		}
		out[k] = v
	}
	return out
}
