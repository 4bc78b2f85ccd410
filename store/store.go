// Package store holds what the state-store implementations share: sealing legacy credentials at rest (Cipher,
// LoadKey), the credential codec, and the validation and ordering of records and keys before they are written.
// The implementations live beside it: store/sqlite (the embedded default) and store/postgres (shared by several
// workers); store/storetest is the conformance suite both pass.
//
// # Credentials at rest
//
// With a key (32 bytes, from IDSHIFT_STORE_KEY or IDSHIFT_STORE_KEY_FILE), every credential is sealed with
// AES-256-GCM before it reaches the database; the database then only ever holds ciphertext. Without a key
// credentials are stored unsealed: anyone who can read the database file or a backup of it reads every imported
// password hash (and any plaintext password) as well. Run without a key only for demos and tests.
//
// Each stored credential carries a "sealed" flag, and each store records in its meta table the id of the key it
// is bound to (MetaKeyID). The policy of both implementations is:
//   - the first Open with a key binds the store to that key (BoundKeyID); a later Open with another key fails with
//     ErrWrongKey (CheckKey). One without a key succeeds, for the records, but PutCredentials then fails with
//     ErrKeyRequired and Credential with ErrSealed: a store never holds credentials sealed with two keys, nor new
//     unsealed ones beside sealed ones. The errors name key ids, never keys.
//   - a store opened with a key seals everything it writes, and at Open reseals (migrates) the credentials an
//     earlier run wrote unsealed, in one transaction; reading an unsealed credential while a key is configured is
//     refused (it can only appear when another process without a key wrote it since).
//   - a store never bound to a key, opened without one, writes unsealed. cmd/idshift never lets that happen by
//     accident: it generates a key file beside a new SQLite store, and refuses a PostgreSQL store without a key
//     unless told --allow-unsealed-secrets.
//   - a credential sealed with another key is refused with an error naming both key ids (never the keys).
//
// # Project-wide keys
//
// Normalised hashes refer to project-wide secrets (a site-wide HMAC key, a Firebase signer key) by fingerprint
// (package pwhash). A store given a Config.KeyRefs function records the references of every credential it writes,
// and lists them (KeyRefLister), so that a program checks at start-up that it holds every key its credentials need
// instead of failing at each sign-in.
package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idshift/idshift"
)

// KeyRefLister is implemented by stores that record which project-wide keys their credentials refer to.
type KeyRefLister interface {
	// KeyRefs returns, sorted, every reference recorded by PutCredentials (with the store's KeyRefs function): those
	// of credentials deleted since may remain.
	KeyRefs(ctx context.Context) ([]string, error)
}

// CollectKeyRefs returns the sorted, distinct references of creds by refs (nil refs: none).
func CollectKeyRefs(refs func(idshift.Credential) []string, creds map[idshift.Key]idshift.Credential) []string {
	if refs == nil {
		return nil
	}
	var out []string
	for _, c := range creds {
		out = append(out, refs(c)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MarshalCredential encodes a credential for storage (before sealing).
func MarshalCredential(c idshift.Credential) ([]byte, error) {
	switch c.Kind {
	case idshift.CredentialNone, idshift.CredentialHash, idshift.CredentialPlaintext:
	default:
		return nil, idshift.Invalid("credential.kind", "unknown credential kind %q", c.Kind)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("store: encode credential: %w", err)
	}
	return b, nil
}

// UnmarshalCredential decodes what MarshalCredential encoded. Its errors never quote the input.
func UnmarshalCredential(b []byte) (idshift.Credential, error) {
	var c idshift.Credential
	if err := json.Unmarshal(b, &c); err != nil {
		// The JSON error may quote part of the secret: do not wrap it.
		return idshift.Credential{}, &idshift.Error{Code: idshift.EINTERNAL, Message: "store: stored credential is not valid JSON"}
	}
	return c, nil
}

// Now returns now() (time.Now when nil) in UTC, truncated to the microsecond that both databases keep.
func Now(now func() time.Time) time.Time {
	if now == nil {
		return time.Now().UTC().Truncate(time.Microsecond)
	}
	return now().UTC().Truncate(time.Microsecond)
}

// Micros is how both stores keep a legacy time such as Record.LegacyLastSignIn: UTC unix microseconds, 0 for the
// zero time.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// TimeFromMicros reads what Micros wrote: 0 is the zero time, anything else a UTC time.
func TimeFromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// CompareKeys orders keys by Source, then LegacyID, bytewise: the order of Store.Scan.
func CompareKeys(a, b idshift.Key) int {
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	return strings.Compare(a.LegacyID, b.LegacyID)
}

// ValidKey returns an EINVALID error when key cannot be stored.
func ValidKey(k idshift.Key) error {
	if k.LegacyID == "" {
		return idshift.Invalid("legacyId", "empty legacy id (source %q)", k.Source)
	}
	return nil
}

// PrepareRecords validates recs for PutRecords and returns them in key order, with the last of several records of
// the same key winning. It does not modify recs. Sorting makes concurrent writers lock rows in the same order.
func PrepareRecords(recs []*idshift.Record) ([]*idshift.Record, error) {
	out := make([]*idshift.Record, 0, len(recs))
	for i, r := range recs {
		if r == nil {
			return nil, idshift.Invalid("records", "record %d is nil", i)
		}
		if err := ValidKey(r.Key); err != nil {
			return nil, err
		}
		if r.State == "" {
			return nil, idshift.Invalid("state", "record %q/%q has no state", r.Source, r.LegacyID)
		}
		out = append(out, r)
	}
	// Stable sort keeps input order among equal keys; keep the last of each run.
	slices.SortStableFunc(out, func(a, b *idshift.Record) int { return CompareKeys(a.Key, b.Key) })
	j := 0
	for i := range out {
		if i+1 < len(out) && out[i+1].Key == out[i].Key {
			continue
		}
		out[j] = out[i]
		j++
	}
	return out[:j], nil
}

// PrepareKeys returns keys sorted and without duplicates, dropping keys that cannot exist (empty legacy id).
func PrepareKeys(keys []idshift.Key) []idshift.Key {
	out := make([]idshift.Key, 0, len(keys))
	for _, k := range keys {
		if k.LegacyID != "" {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, CompareKeys)
	return slices.Compact(out)
}

// SignInNames returns the lower-cased, de-duplicated, non-empty names under which a record is found by
// RecordBySignInName.
func SignInNames(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		n = NormalizeSignInName(n)
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// NormalizeSignInName is the form sign-in names are stored and looked up in.
func NormalizeSignInName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// SortStates returns states de-duplicated, for a Scan filter.
func SortStates(states []idshift.State) []string {
	out := make([]string, 0, len(states))
	for _, s := range states {
		out = append(out, string(s))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// NotFound returns the ENOTFOUND error of the store methods.
func NotFound(what string, args ...any) error {
	return idshift.Errorf(idshift.ENOTFOUND, what, args...)
}

// Sign-in names are few and never hold the separator (a C0 control character), so one joined string per record is
// enough for the stores' own column.
const nameSep = "\x1f"

// EncodeNames joins a record's sign-in names for storage.
func EncodeNames(names []string) string { return strings.Join(names, nameSep) }

// DecodeNames splits what EncodeNames joined.
func DecodeNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, nameSep)
}
