package importer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"math/big"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/pwhash"
)

// plan is one user ready to send: the request body (without its password, set at send time), the digest of that
// body, the normalised legacy credential and the sign-in names the store indexes.
type plan struct {
	user   *idshift.User
	body   *graph.User
	digest string
	cred   idshift.Credential
	names  []string
	// lookup is the identity used to find the user in the tenant after a conflict or a lost response.
	lookup graph.Identity
	// fps are fingerprints of the legacy id (first), of each identity, in body.Identities order, and of the
	// legacy id of each member of a merge, in merge.members order.
	fps []uint64
	// pos is the record's position in the run: its source's index (bits 40 and up) and its line, so that lines
	// of different sources never meet in the duplicate index.
	pos int64
	// merge is set on the user planned for an accepted merge.
	merge *mergeInfo
}

// posBits is the shift of a source's index in a plan's pos.
const posBits = 40

func lineOf(pos int64) int64 { return pos & (1<<posBits - 1) }

// planner turns source users into plans, rejecting what External ID would refuse and (in dedupe) what repeats
// inside the source. It is used by one goroutine only.
type planner struct {
	cfg  *Config
	seed maphash.Seed
}

func newPlanner(cfg *Config) *planner {
	return &planner{cfg: cfg, seed: maphash.MakeSeed()}
}

// Seen is the index of what a run has planned: 64-bit fingerprints of legacy ids and identities, each with the
// line that first used it. store/sqlite.Seen keeps it on disk so that memory stays flat in the number of users;
// the default keeps it in memory (about 30–45 bytes per fingerprint). Two different values share a fingerprint
// with a probability of about n²/2^65 (2·10⁻⁷ for three million); the second would be rejected as a duplicate.
type Seen interface {
	// Mark records each fingerprint with its line unless it is already there, and returns for each the line
	// recorded first (earlier in fps counts as first too).
	Mark(ctx context.Context, fps []uint64, lines []int64) ([]int64, error)
}

// memSeen is the in-memory Seen.
type memSeen map[uint64]int64

func (m memSeen) Mark(_ context.Context, fps []uint64, lines []int64) ([]int64, error) {
	first := make([]int64, len(fps))
	for i, fp := range fps {
		l, ok := m[fp]
		if !ok {
			l = lines[i]
			m[fp] = l
		}
		first[i] = l
	}
	return first, nil
}

// dedupe rejects the plans whose legacy id or an identity was planned before in the run (at an earlier line, or
// earlier in this chunk), pointing at the first occurrence, and returns the others in order.
//
// Positions (plan.pos) stand for lines in the index, so that the same line number in two sources is not taken for
// the same record; the reason names the first occurrence's source when it is another one (names by source index).
func (p *planner) dedupe(ctx context.Context, chunk []*plan, names []string, reject func(*plan, *idshift.RowError)) ([]*plan, error) {
	var fps []uint64
	var lines []int64
	for _, pl := range chunk {
		fps = append(fps, pl.fps...)
		for range pl.fps {
			lines = append(lines, pl.pos)
		}
	}
	at := func(own, first int64) string {
		s := sprintf("line %d", lineOf(first))
		if i := int(first >> posBits); i != int(own>>posBits) && i < len(names) {
			s += " of " + names[i]
		}
		return s
	}
	first, err := p.cfg.Seen.Mark(ctx, fps, lines)
	if err != nil {
		return nil, fmt.Errorf("importer: duplicate index: %w", err)
	}
	kept := chunk[:0]
	k := 0
	for _, pl := range chunk {
		var re *idshift.RowError
		for i := range pl.fps {
			f := first[k+i]
			if f == pl.pos || re != nil {
				continue
			}
			re = &idshift.RowError{Line: pl.user.Line, LegacyID: pl.user.LegacyID, FirstLine: lineOf(f)}
			switch n := len(pl.body.Identities); {
			case i == 0:
				re.Field = "legacy_id"
				re.Reason = sprintf("duplicate legacy id %q, first at %s", pl.user.LegacyID, at(pl.pos, f))
			case i <= n:
				id := pl.body.Identities[i-1]
				re.Field = sprintf("identities[%d].issuerAssignedId", i-1)
				re.Reason = sprintf("duplicate identity %q, first at %s", id.IssuerAssignedID, at(pl.pos, f))
			default:
				m := pl.merge.members[i-1-n]
				re.Field = "merge"
				re.Reason = sprintf("member %s: duplicate legacy id, first at %s", keyText(m.key), at(pl.pos, f))
			}
		}
		k += len(pl.fps)
		if re != nil {
			reject(pl, re)
			continue
		}
		kept = append(kept, pl)
	}
	return kept, nil
}

func (p *planner) fingerprint(kind, a, b string) uint64 {
	var h maphash.Hash
	h.SetSeed(p.seed)
	h.WriteString(kind)
	h.WriteByte(0)
	h.WriteString(a)
	h.WriteByte(0)
	h.WriteString(b)
	return h.Sum64()
}

// plan validates and normalises u. A user that cannot be sent yields a *idshift.RowError.
func (p *planner) plan(u *idshift.User) (*plan, error) {
	reject := func(field, format string, args ...any) error {
		re := &idshift.RowError{Line: u.Line, LegacyID: u.LegacyID, Field: field, Reason: sprintf(format, args...)}
		return re
	}
	if strings.TrimSpace(u.LegacyID) == "" {
		return nil, reject("legacy_id", "missing legacy id")
	}
	if u.Source == "" {
		u.Source = p.cfg.SourceName
	}
	if len(u.Identities) == 0 {
		return nil, reject("identities", "no sign-in identity (email, username or federated)")
	}

	body := &graph.User{
		DisplayName: strings.TrimSpace(u.DisplayName),
		GivenName:   strings.TrimSpace(u.GivenName),
		Surname:     strings.TrimSpace(u.Surname),
		Mail:        strings.TrimSpace(u.Mail),
		OtherMails:  u.OtherMails,
		MobilePhone: strings.TrimSpace(u.Phone),
	}
	enabled := !u.Disabled
	body.AccountEnabled = &enabled

	local := false
	var names []string
	var lookup graph.Identity
	for i, id := range u.Identities {
		gid := graph.Identity{SignInType: id.SignInType, Issuer: id.Issuer, IssuerAssignedID: strings.TrimSpace(id.IssuerAssignedID)}
		switch gid.SignInType {
		case idshift.SignInEmail, idshift.SignInUserName:
			local = true
			if gid.Issuer == "" {
				gid.Issuer = p.cfg.Domain
			}
			if gid.SignInType == idshift.SignInEmail {
				gid.IssuerAssignedID = strings.ToLower(gid.IssuerAssignedID)
			}
			names = append(names, strings.ToLower(gid.IssuerAssignedID))
		}
		if i == 0 || (lookup.SignInType == idshift.SignInFederated && gid.SignInType != idshift.SignInFederated) {
			lookup = gid
		}
		body.Identities = append(body.Identities, gid)
	}
	if body.DisplayName == "" {
		body.DisplayName = strings.TrimSpace(body.GivenName + " " + body.Surname)
	}
	if body.DisplayName == "" {
		body.DisplayName = body.Identities[0].IssuerAssignedID
	}

	// The legacy credential.
	cred := u.Credential
	switch cred.Kind {
	case idshift.CredentialHash:
		norm, err := pwhash.Normalize(cred.Hash, p.cfg.HashOptions)
		if err != nil {
			return nil, reject("password_hash", "%s", hashReason(err))
		}
		cred.Hash = norm
	case idshift.CredentialPlaintext:
		if cred.Password == "" {
			cred = idshift.Credential{Alternates: cred.Alternates}
		}
	}
	// The alternates of a merged user (its members' credentials), normalised the same way.
	anyHash := cred.Kind == idshift.CredentialHash
	if len(cred.Alternates) > 0 {
		alts := make([]idshift.Alternate, len(cred.Alternates))
		for i, a := range cred.Alternates {
			switch a.Kind {
			case idshift.CredentialHash:
				norm, err := pwhash.Normalize(a.Hash, p.cfg.HashOptions)
				if err != nil {
					return nil, reject("password_hash", "merge member %s/%s: %s", a.Source, a.LegacyID, hashReason(err))
				}
				a.Hash = norm
				anyHash = true
			case idshift.CredentialPlaintext:
				if a.Password == "" {
					a.Kind = idshift.CredentialNone
				} else {
					anyHash = true // checked at sign-in like a hash
				}
			}
			alts[i] = a
		}
		cred.Alternates = alts
	}

	ext := p.cfg.extensionName
	body.Extensions = map[string]any{ext(p.cfg.LegacyIDAttribute): u.LegacyID}
	for name, v := range u.Extensions {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339)
		}
		body.Extensions[ext(name)] = v
	}
	if re := p.sensitive(u); re != nil {
		return nil, re
	}
	if p.cfg.Consent {
		p.consent(u, body.Extensions)
	}
	if local {
		policies := "DisablePasswordExpiration"
		if p.cfg.DisableStrongPassword {
			policies += ", DisableStrongPassword"
		}
		body.PasswordPolicies = policies
		// The password is filled in at send time; a placeholder that meets the policy lets validation see a
		// local account with a password profile.
		body.PasswordProfile = &graph.PasswordProfile{Password: placeholderPassword}
		// A user whose plaintext is known is created with it and needs no migration; a user without a legacy
		// credential is flagged only when a live check can verify the password at sign-in (Config.LiveCheck).
		body.Extensions[ext(p.cfg.MigrationAttribute)] = anyHash ||
			(cred.Kind == idshift.CredentialNone && p.cfg.LiveCheck)
	}

	if err := graph.ValidateUser(body, p.cfg.Rules); err != nil {
		var e *idshift.Error
		if errors.As(err, &e) {
			return nil, reject(e.Field, "%s", e.Message)
		}
		return nil, reject("", "%v", err)
	}

	// Fingerprints of the legacy id and of every identity, for the duplicate check of dedupe.
	fps := make([]uint64, 0, 1+len(body.Identities))
	fps = append(fps, p.fingerprint("legacy", u.Source, u.LegacyID))
	for _, id := range body.Identities {
		fps = append(fps, p.fingerprint("id", strings.ToLower(id.Issuer), strings.ToLower(id.IssuerAssignedID)))
	}

	d := digest(body)
	if len(cred.Alternates) > 0 {
		d = mergedBodyPrefix + d
	}
	if fp := credentialFingerprint(p.cfg.CredentialKey, cred); fp != "" {
		d += "." + fp
	}
	return &plan{user: u, body: body, digest: d, cred: cred, names: names, lookup: lookup, fps: fps}, nil
}

// placeholderPassword stands in for the password during validation; it is never sent.
const placeholderPassword = "Placeholder-0-Never-Sent"

// digest hashes the request body without its password so that a rerun can tell whether the source changed.
func digest(u *graph.User) string {
	c := *u
	c.PasswordProfile = nil
	b, err := json.Marshal(&c)
	if err != nil {
		// graph.User always marshals; an error here is a bug.
		panic("importer: marshal user for digest: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// credentialFingerprint is what a record keeps of a legacy hash credential so that a rerun with Update can tell that
// it changed: HMAC-SHA256 under key (SHA-256 when key is nil) of the normalised hash and its flags, 16 bytes in hex;
// "" for other kinds. Keyed, it tells nothing about the hash to whoever reads the store without the key; unkeyed,
// it is a password oracle as fast as the hash for unsalted legacy digests (salted hashes keep their salt sealed).
//
// A merged user's alternates are part of it (after the primary's own, which then counts whatever its kind).
func credentialFingerprint(key []byte, c idshift.Credential) string {
	if c.Kind != idshift.CredentialHash && len(c.Alternates) == 0 {
		return ""
	}
	var h hash.Hash
	if key != nil {
		h = hmac.New(sha256.New, key)
	} else {
		h = sha256.New()
	}
	h.Write([]byte("idshift credential fingerprint v1\x00"))
	h.Write([]byte(c.Hash))
	h.Write([]byte{0, flag(c.MustChange), flag(c.Disabled)})
	for _, a := range c.Alternates {
		h.Write([]byte("\x00alternate\x00" + a.Source + "\x00" + a.LegacyID + "\x00" + string(a.Kind) + "\x00" + a.Hash + "\x00" + a.Password))
		h.Write([]byte{0, flag(a.MustChange), flag(a.Disabled)})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func flag(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// hashReason describes a pwhash error without the hash itself.
func hashReason(err error) string {
	switch {
	case errors.Is(err, pwhash.ErrUnknownFormat):
		return "unknown password hash format"
	case errors.Is(err, pwhash.ErrOverLimit):
		return "password hash cost above the configured caps: " + err.Error()
	case errors.Is(err, pwhash.ErrMalformed):
		return "malformed password hash: " + err.Error()
	}
	return "unusable password hash: " + err.Error()
}

const (
	lowers  = "abcdefghijkmnopqrstuvwxyz"
	uppers  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	digits  = "23456789"
	symbols = "!@#$%^&*-_=+?"
)

// RandomPassword returns a 24-character password from crypto/rand that meets External ID's strong password
// policy (all four character classes). Nobody ever learns it: a migrated user's real password replaces it.
func RandomPassword() (string, error) {
	classes := []string{lowers, uppers, digits, symbols}
	all := lowers + uppers + digits + symbols
	const n = 24
	out := make([]byte, n)
	for i := range out {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return "", err
		}
		out[i] = set[k.Int64()]
	}
	// Shuffle so that the class positions are not fixed.
	for i := n - 1; i > 0; i-- {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		j := k.Int64()
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}
