// Package cleanup audits legacy user directories before an import (the first stage of a migration): it plans every
// user with the importer's rules, without a tenant, and reports what would be rejected, which accounts should be
// merged, which are stale, which attributes hold data that must not be stored, how full every attribute is, which
// passwords can be migrated and how long the import will take. It reads and reports; it writes nothing.
package cleanup

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/pwhash"
)

// Seen is the index of the sign-in names already met in an audit: 64-bit fingerprints, each with the value that
// first used it. store/sqlite.Seen keeps it on disk (memory flat in the number of users); the zero Config keeps it
// in memory. It is the importer's duplicate index, with the same contract.
type Seen interface {
	// Mark records each fingerprint with its value unless it is already there, and returns for each the value
	// recorded first (earlier in fps counts as first too).
	Mark(ctx context.Context, fps []uint64, lines []int64) ([]int64, error)
}

// Config tunes an audit. The zero value is usable: the default pwhash options and Graph rules, a two-year stale
// threshold, one app registration at the documented write limits, a 300,000-object directory quota, and an
// in-memory duplicate index.
type Config struct {
	// HashOptions are the options pwhash.Normalize checks each legacy hash with (formats, cost caps), as import's.
	HashOptions pwhash.Options
	// Rules are the Graph rules each planned user is validated with (graph.ValidateUser).
	Rules graph.Rules
	// Domain is the issuer of local identities; default "audit.onmicrosoft.com" (it does not change a verdict).
	Domain string
	// LiveCheck: serve checks these sources' passwords live, so a user without a legacy credential can still be
	// migrated at sign-in instead of needing a reset.
	LiveCheck bool
	// DisableStrongPassword mirrors import's setting (it only changes the password policy validated).
	DisableStrongPassword bool
	// StaleAfter is the age of a last sign-in that makes an account stale; default two years (730 days).
	StaleAfter time.Duration
	// Now is the clock the stale rule reads; default time.Now.
	Now func() time.Time
	// Seen is the duplicate index; default in memory (about 40 bytes a sign-in name).
	Seen Seen
	// Samples is how many samples each finding keeps (default 5); Merges how many proposed merges are listed
	// (default 20); Top how many reject reasons are listed (default 10).
	Samples, Merges, Top int
	// Apps is the number of app registrations whose write quotas the import pools (default 1).
	Apps int
	// AppWrites per AppWindow per app, TenantWrites per TenantWindow per tenant: the tenant's write ceiling
	// (defaults 3,000 per 150 s and 18,000 per 5 min).
	AppWrites, TenantWrites int
	AppWindow, TenantWindow time.Duration
	// Quota is the directory's object quota (default 300,000).
	Quota int64
	// Lookup, when set, looks every valid user's identities up in a tenant (read-only); Report waits for it and
	// adds its figures (Report.Tenant).
	Lookup *Lookup
}

func (c Config) withDefaults() Config {
	if c.Domain == "" {
		c.Domain = "audit.onmicrosoft.com"
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 730 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Seen == nil {
		c.Seen = memSeen{}
	}
	if c.Samples <= 0 {
		c.Samples = 5
	}
	if c.Merges <= 0 {
		c.Merges = 20
	}
	if c.Top <= 0 {
		c.Top = 10
	}
	if c.Apps <= 0 {
		c.Apps = 1
	}
	if c.AppWrites <= 0 {
		c.AppWrites = 3000
	}
	if c.AppWindow <= 0 {
		c.AppWindow = 150 * time.Second
	}
	if c.TenantWrites <= 0 {
		c.TenantWrites = 18000
	}
	if c.TenantWindow <= 0 {
		c.TenantWindow = 5 * time.Minute
	}
	if c.Quota <= 0 {
		c.Quota = 300000
	}
	return c
}

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

// NamedSource is one source of an audit with the name its users are reported under.
type NamedSource struct {
	Name   string
	Source idshift.Source
}

// Run audits every source in order and returns the report. It reads each source to its end; a malformed record is
// counted, any other read error ends the audit. It writes nothing but what cfg.Seen keeps.
func Run(ctx context.Context, cfg Config, sources []NamedSource) (*Report, error) {
	a, err := New(cfg)
	if err != nil {
		return nil, err
	}
	for i, s := range sources {
		if err := a.SetSource(ctx, i, s.Name); err != nil {
			a.Close()
			return nil, err
		}
		if err := Drain(ctx, a, s); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a.Report(ctx)
}

// Drain reads s to its end into a (after a.SetSource): a malformed record is counted, any other read error is
// returned.
func Drain(ctx context.Context, a *Auditor, s NamedSource) error {
	for {
		u, err := s.Source.Next(ctx)
		if err == io.EOF {
			return nil
		}
		var re *idshift.RowError
		if errors.As(err, &re) {
			a.AddRowError(re)
			continue
		}
		if err != nil {
			return fmt.Errorf("cleanup: source %s: %w", s.Name, err)
		}
		if err := a.Add(ctx, u); err != nil {
			return err
		}
	}
}

// Auditor accumulates an audit user by user. Its memory is bounded by the number of attribute names, reasons and
// samples, not by the number of users (the duplicate index is cfg.Seen). It is used by one goroutine at a time.
type Auditor struct {
	cfg     Config
	now     time.Time
	seed    maphash.Seed
	src     int
	srcName string
	rep     Report
	fill    map[string]int64
	reasons map[string]int64
	flags   map[string]*Flag
	formats map[string]int64
	pending []pendingUser
	// The duplicate worker's: its input, its end, its first error and its scratch slices.
	batches chan batch
	done    chan struct{}
	werr    error
	fps     []uint64
	vals    []int64
}

// pendingUser is a planned user waiting for its batch of duplicate look-ups.
type pendingUser struct {
	source, legacyID string
	line             int64
	family           Strength
	format           string
	names            []nameKey
}

type nameKey struct{ kind, value string }

// batchSize is how many planned users go to one Seen.Mark call.
const batchSize = 512

// maxKeys bounds the distinct attribute names and reject reasons kept; the rest are counted under "(other)".
const maxKeys = 1000

// New returns an auditor for cfg.
func New(cfg Config) (*Auditor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.HashOptions.Validate(); err != nil {
		return nil, fmt.Errorf("cleanup: hash options: %w", err)
	}
	a := &Auditor{cfg: cfg, now: cfg.Now(), seed: maphash.MakeSeed(), fill: map[string]int64{}, reasons: map[string]int64{},
		flags: map[string]*Flag{}, formats: map[string]int64{}}
	a.rep.StaleAfterDays = int(cfg.StaleAfter / (24 * time.Hour))
	a.rep.Duplicates.ByWeakest = map[string]int64{}
	return a, nil
}

// SetSource starts source number i (0 to 255) named name: the users added next belong to it.
func (a *Auditor) SetSource(ctx context.Context, i int, name string) error {
	if i < 0 || i > 255 {
		return fmt.Errorf("cleanup: source %d: at most 256 sources", i)
	}
	if err := a.flush(ctx); err != nil {
		return err
	}
	a.src, a.srcName = i, name
	for len(a.rep.Sources) <= i {
		a.rep.Sources = append(a.rep.Sources, SourceCount{})
	}
	a.rep.Sources[i].Name = name
	return nil
}

// AddRowError counts a record its reader could not parse.
func (a *Auditor) AddRowError(re *idshift.RowError) {
	a.ensureSource()
	a.rep.Sources[a.src].Read++
	a.rep.Sources[a.src].Unreadable++
	a.rep.Outcomes.Unreadable++
	a.reason("unreadable", re.Field, re.Reason)
}

func (a *Auditor) ensureSource() {
	if len(a.rep.Sources) == 0 {
		a.rep.Sources = append(a.rep.Sources, SourceCount{Name: a.srcName})
	}
}

// quoted matches the values rejection messages quote, so that reasons group by kind and never carry a value.
var quoted = regexp.MustCompile(`"[^"]*"|'[^']*'|\d+`)

func (a *Auditor) reason(kind, field, reason string) {
	field = quoted.ReplaceAllString(field, "N")
	key := kind + ": " + field + ": " + quoted.ReplaceAllString(reason, "…")
	if field == "" {
		key = kind + ": " + quoted.ReplaceAllString(reason, "…")
	}
	if _, ok := a.reasons[key]; !ok && len(a.reasons) >= maxKeys {
		key = kind + ": (other)"
	}
	a.reasons[key]++
}

// Add audits one user: its attributes, its staleness, its credential and its plan. A planned user's sign-in names
// go to the duplicate index in batches.
func (a *Auditor) Add(ctx context.Context, u *idshift.User) error {
	a.ensureSource()
	sc := &a.rep.Sources[a.src]
	sc.Read++
	a.rep.Outcomes.Users++
	a.scan(u)
	a.stale(u)
	strength, format := a.password(u)

	if reason, field := a.plan(u); reason != "" {
		sc.Rejected++
		a.rep.Outcomes.Rejected++
		a.reason("rejected", field, reason)
		return nil
	}
	sc.Valid++
	a.rep.Outcomes.Valid++
	if a.cfg.Lookup != nil {
		if err := a.cfg.Lookup.Add(ctx, a.srcName, u); err != nil {
			return err
		}
	}
	p := pendingUser{source: a.srcName, legacyID: u.LegacyID, line: u.Line, family: strength, format: format}
	p.names = append(p.names, nameKey{"legacyId", a.srcName + "\x00" + u.LegacyID})
	for _, id := range u.Identities {
		v := strings.ToLower(strings.TrimSpace(id.IssuerAssignedID))
		switch id.SignInType {
		case idshift.SignInEmail:
			p.names = append(p.names, nameKey{"email", v})
		case idshift.SignInUserName:
			p.names = append(p.names, nameKey{"userName", v})
		}
	}
	a.pending = append(a.pending, p)
	if len(a.pending) >= batchSize {
		return a.flush(ctx)
	}
	return nil
}

// plan builds the Graph request the importer would send for u and validates it with the same rules; it returns
// the reason and field of a rejection, or "".
func (a *Auditor) plan(u *idshift.User) (reason, field string) {
	if strings.TrimSpace(u.LegacyID) == "" {
		return "missing legacy id", "legacy_id"
	}
	if len(u.Identities) == 0 {
		return "no sign-in identity (email, username or federated)", "identities"
	}
	body := &graph.User{
		DisplayName: strings.TrimSpace(u.DisplayName), GivenName: strings.TrimSpace(u.GivenName),
		Surname: strings.TrimSpace(u.Surname), Mail: strings.TrimSpace(u.Mail), OtherMails: u.OtherMails,
		MobilePhone: strings.TrimSpace(u.Phone),
	}
	enabled := !u.Disabled
	body.AccountEnabled = &enabled
	local := false
	for _, id := range u.Identities {
		gid := graph.Identity{SignInType: id.SignInType, Issuer: id.Issuer, IssuerAssignedID: strings.TrimSpace(id.IssuerAssignedID)}
		if gid.SignInType == idshift.SignInEmail || gid.SignInType == idshift.SignInUserName {
			local = true
			if gid.Issuer == "" {
				gid.Issuer = a.cfg.Domain
			}
			if gid.SignInType == idshift.SignInEmail {
				gid.IssuerAssignedID = strings.ToLower(gid.IssuerAssignedID)
			}
		}
		body.Identities = append(body.Identities, gid)
	}
	if body.DisplayName == "" {
		body.DisplayName = strings.TrimSpace(body.GivenName + " " + body.Surname)
	}
	if body.DisplayName == "" {
		body.DisplayName = body.Identities[0].IssuerAssignedID
	}
	if u.Credential.Kind == idshift.CredentialHash {
		if _, err := pwhash.Normalize(u.Credential.Hash, a.cfg.HashOptions); err != nil {
			return hashReason(err), "password_hash"
		}
	}
	const appID = "00000000000000000000000000000000"
	ext := func(n string) string { return "extension_" + appID + "_" + n }
	body.Extensions = map[string]any{ext("legacyId"): u.LegacyID}
	for name, v := range u.Extensions {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339)
		}
		body.Extensions[ext(name)] = v
	}
	if local {
		body.PasswordPolicies = "DisablePasswordExpiration"
		if a.cfg.DisableStrongPassword {
			body.PasswordPolicies += ", DisableStrongPassword"
		}
		body.PasswordProfile = &graph.PasswordProfile{Password: "Placeholder-0-Never-Sent"}
		body.Extensions[ext("requiresMigration")] = true
	}
	if err := graph.ValidateUser(body, a.cfg.Rules); err != nil {
		var e *idshift.Error
		if errors.As(err, &e) {
			return e.Message, e.Field
		}
		return err.Error(), ""
	}
	return "", ""
}

// hashReason describes a pwhash error by its kind, without the hash (the importer's wording).
func hashReason(err error) string {
	switch {
	case errors.Is(err, pwhash.ErrUnknownFormat):
		return "unknown password hash format"
	case errors.Is(err, pwhash.ErrOverLimit):
		return "password hash cost above the configured caps"
	case errors.Is(err, pwhash.ErrUnsupported):
		return "unsupported password hash"
	case errors.Is(err, pwhash.ErrMalformed):
		return "malformed password hash"
	}
	return "unusable password hash"
}

// Strength ranks what guards an account's password, weakest first: a merged account is only as safe as its
// weakest credential.
type Strength int

// The strengths of a legacy credential.
const (
	StrengthNone      Strength = iota // no credential: a live check or a reset
	StrengthUnusable                  // a hash that cannot be used (unknown, malformed, over the caps)
	StrengthPlaintext                 // the password itself
	StrengthFastHash                  // a fast digest or old crypt: brute-forced cheaply if it leaks
	StrengthSlowHash                  // bcrypt, scrypt, Argon2, PBKDF2, sha-crypt, yescrypt
)

func (s Strength) String() string {
	switch s {
	case StrengthUnusable:
		return "unusable hash"
	case StrengthPlaintext:
		return "plaintext"
	case StrengthFastHash:
		return "fast hash"
	case StrengthSlowHash:
		return "slow hash"
	}
	return "no credential"
}

// MarshalText names the strength.
func (s Strength) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a strength by its name.
func (s *Strength) UnmarshalText(b []byte) error {
	for v := StrengthNone; v <= StrengthSlowHash; v++ {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("cleanup: unknown credential strength %q", b)
}

var slowFormats = []string{"bcrypt", "scrypt", "argon2", "pbkdf2", "sha256-crypt", "sha512-crypt", "yescrypt", "firebase",
	"firescrypt", "aspnet-identity", "keycloak", "auth0", "okta", "werkzeug", "wordpress-bcrypt", "spring"}

// FormatStrength ranks a usable hash format named by pwhash.Detect (or the configured format).
func FormatStrength(format string) Strength {
	f := strings.ToLower(format)
	for _, s := range slowFormats {
		if strings.Contains(f, s) {
			return StrengthSlowHash
		}
	}
	return StrengthFastHash
}

// password classifies u's credential as `hashes lint` does and returns its strength and format.
func (a *Auditor) password(u *idshift.User) (Strength, string) {
	p := &a.rep.Passwords
	c := u.Credential
	switch {
	case c.Kind == idshift.CredentialPlaintext && c.Password != "":
		p.Plaintext++
		return StrengthPlaintext, "plaintext"
	case c.Kind == idshift.CredentialHash && c.Hash != "":
	default:
		if a.cfg.LiveCheck {
			p.LiveCheck++
		} else {
			p.NeedReset++
		}
		return StrengthNone, ""
	}
	_, err := pwhash.Normalize(c.Hash, a.cfg.HashOptions)
	switch {
	case err == nil:
		name, ok := pwhash.Detect(c.Hash)
		if !ok {
			name = strings.ToLower(a.cfg.HashOptions.Format)
		}
		p.Usable++
		if _, ok := a.formats[name]; ok || len(a.formats) < maxKeys {
			a.formats[name]++
		}
		return FormatStrength(name), name
	case errors.Is(err, pwhash.ErrOverLimit):
		p.OverLimit++
	case errors.Is(err, pwhash.ErrUnsupported):
		p.Unsupported++
	case errors.Is(err, pwhash.ErrUnknownFormat):
		p.Unknown++
	default:
		p.Malformed++
	}
	return StrengthUnusable, ""
}

func (a *Auditor) stale(u *idshift.User) {
	s := Stale(u.Disabled, u.LastSignIn, a.now, a.cfg.StaleAfter)
	if s == NotStale {
		return
	}
	st := &a.rep.Stale
	var c *Finding
	switch s {
	case StaleDisabled:
		c = &st.Disabled
	case StaleNever:
		c = &st.NeverSignedIn
	default:
		c = &st.LastSignInOld
	}
	st.Total++
	c.Count++
	if len(c.Samples) < a.cfg.Samples {
		smp := Sample{Source: a.srcName, Line: u.Line, LegacyID: u.LegacyID}
		if !u.LastSignIn.IsZero() {
			smp.Detail = "last sign-in " + u.LastSignIn.UTC().Format("2006-01-02")
		}
		c.Samples = append(c.Samples, smp)
	}
}

// scan records the fill of every attribute of u and what it holds that must not be stored.
func (a *Auditor) scan(u *idshift.User) {
	filled := func(attr string, ok bool) {
		if ok {
			a.count(attr)
		}
	}
	a.rep.Consent.Users++
	filled("legacyId", strings.TrimSpace(u.LegacyID) != "")
	for i, id := range u.Identities {
		name := "identities." + id.SignInType
		again := false // a second identity of the same type fills nothing more
		for _, prev := range u.Identities[:i] {
			again = again || prev.SignInType == id.SignInType && prev.IssuerAssignedID != ""
		}
		filled(name, id.IssuerAssignedID != "" && !again)
		a.check(name, id.IssuerAssignedID, u)
	}
	for _, f := range []struct{ name, v string }{
		{"displayName", u.DisplayName}, {"givenName", u.GivenName}, {"surname", u.Surname}, {"mail", u.Mail}, {"phone", u.Phone},
	} {
		filled(f.name, strings.TrimSpace(f.v) != "")
		a.check(f.name, f.v, u)
	}
	filled("otherMails", len(u.OtherMails) > 0)
	for _, m := range u.OtherMails {
		a.check("otherMails", m, u)
	}
	filled("created", !u.Created.IsZero())
	filled("lastSignIn", !u.LastSignIn.IsZero())
	filled("disabled", u.Disabled)
	filled("password", u.Credential.Kind != idshift.CredentialNone)
	filled("privacyPolicy", u.PrivacyPolicy != nil)
	filled("termsOfUse", u.TermsOfUse != nil)
	con := &a.rep.Consent
	if u.PrivacyPolicy != nil {
		con.PrivacyPolicy++
		if !u.PrivacyPolicy.AcceptedAt.IsZero() {
			con.PrivacyPolicyDated++
		}
	}
	if u.TermsOfUse != nil {
		con.TermsOfUse++
		if !u.TermsOfUse.AcceptedAt.IsZero() {
			con.TermsOfUseDated++
		}
	}
	for name, v := range u.Extensions {
		attr := "extensions." + name
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case int64:
			s = strconv.FormatInt(v, 10)
		case bool:
			s = strconv.FormatBool(v)
		case time.Time:
			s = "-"
		case nil:
		default:
			s = fmt.Sprint(v)
		}
		filled(attr, s != "")
		if s != "" && MedicalName(name) {
			a.flag(attr, "medical-looking name", "", u)
		}
		a.check(attr, s, u)
	}
}

func (a *Auditor) count(attr string) {
	if _, ok := a.fill[attr]; !ok && len(a.fill) >= maxKeys {
		attr = "(other)"
	}
	a.fill[attr]++
}

// check flags a value that holds a payment card number or a social security number.
func (a *Auditor) check(attr, v string, u *idshift.User) {
	if len(v) < 11 {
		return
	}
	if d, ok := FindCard(v); ok {
		a.flag(attr, "payment card number", MaskCard(d), u)
	}
	if s, ok := FindSSN(v); ok {
		a.flag(attr, "US social security number", MaskSSN(s), u)
	}
}

func (a *Auditor) flag(attr, kind, masked string, u *idshift.User) {
	key := attr + "\x00" + kind
	f, ok := a.flags[key]
	if !ok {
		if len(a.flags) >= maxKeys {
			return
		}
		f = &Flag{Attribute: attr, Kind: kind}
		a.flags[key] = f
	}
	f.Count++
	if len(f.Samples) < a.cfg.Samples {
		f.Samples = append(f.Samples, Sample{Source: a.srcName, Line: u.Line, LegacyID: u.LegacyID, Detail: masked})
	}
}

// Values kept in the duplicate index: the source (8 bits), the first side's strength (8 bits) and its line.
const (
	lineBits  = 44
	lineMask  = 1<<lineBits - 1
	shiftStr  = lineBits
	shiftSrc  = lineBits + 8
	maxSource = 255
)

func encode(src int, s Strength, line int64) int64 {
	return int64(src)<<shiftSrc | int64(s)<<shiftStr | line&lineMask
}

func decode(v int64) (src int, s Strength, line int64) {
	return int(v >> shiftSrc & 0xff), Strength(v >> shiftStr & 0xff), v & lineMask
}

func (a *Auditor) fingerprint(kind, v string) uint64 {
	var h maphash.Hash
	h.SetSeed(a.seed)
	h.WriteString(kind)
	h.WriteByte(0)
	h.WriteString(v)
	return h.Sum64()
}

// batch is a run of planned users of one source on its way to the duplicate index.
type batch struct {
	ctx     context.Context
	src     int
	srcName string
	users   []pendingUser
}

// flush hands the pending users to the duplicate worker, which looks their names up while the next batch is
// audited (the index is the slowest stage). The worker owns Report.Duplicates until Report waits for it.
func (a *Auditor) flush(ctx context.Context) error {
	if len(a.pending) == 0 {
		return nil
	}
	if a.batches == nil {
		a.batches = make(chan batch, 2)
		a.done = make(chan struct{})
		go a.worker()
	}
	select {
	case a.batches <- batch{ctx: ctx, src: a.src, srcName: a.srcName, users: a.pending}:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.pending = make([]pendingUser, 0, batchSize)
	return nil
}

// Close stops an audit abandoned before Report (Report stops it itself). It returns the duplicate index's first
// error, if any.
func (a *Auditor) Close() error { return a.wait() }

// wait stops the duplicate worker and returns its first error.
func (a *Auditor) wait() error {
	if a.batches == nil {
		return a.werr
	}
	close(a.batches)
	<-a.done
	a.batches = nil
	return a.werr
}

func (a *Auditor) worker() {
	defer close(a.done)
	var names []string
	for b := range a.batches {
		if a.werr != nil {
			continue
		}
		for len(names) <= b.src {
			names = append(names, "")
		}
		names[b.src] = b.srcName
		a.werr = a.mark(b, names)
	}
}

// mark looks a batch's names up in the duplicate index and records the duplicates and proposed merges.
func (a *Auditor) mark(b batch, names []string) error {
	a.fps, a.vals = a.fps[:0], a.vals[:0]
	for _, p := range b.users {
		for _, n := range p.names {
			a.fps = append(a.fps, a.fingerprint(n.kind, n.value))
			a.vals = append(a.vals, encode(b.src, p.family, p.line))
		}
	}
	first, err := a.cfg.Seen.Mark(b.ctx, a.fps, a.vals)
	if err != nil {
		return fmt.Errorf("cleanup: duplicate index: %w", err)
	}
	k := 0
	d := &a.rep.Duplicates
	for _, p := range b.users {
		own := encode(b.src, p.family, p.line)
		counted := false
		for i, n := range p.names {
			f := first[k+i]
			if f == own || counted {
				continue
			}
			counted = true
			fsrc, fstr, fline := decode(f)
			if n.kind == "legacyId" {
				d.LegacyIDs++
				continue
			}
			if fsrc == b.src {
				d.WithinSource++
			} else {
				d.AcrossSources++
			}
			weakest := min(fstr, p.family)
			d.ByWeakest[weakest.String()]++
			if len(d.Merges) < a.cfg.Merges {
				evidence := "same email " + MaskEmail(n.value)
				if n.kind == "userName" {
					evidence = "same userName " + maskName(n.value)
				}
				d.Merges = append(d.Merges, Merge{
					Evidence:   evidence,
					SameSource: fsrc == b.src,
					Keep:       Side{Source: names[fsrc], Line: fline, Guard: fstr},
					Merge:      Side{Source: p.source, Line: p.line, LegacyID: p.legacyID, Guard: p.family},
					Guard:      weakest,
				})
			}
		}
		k += len(p.names)
	}
	return nil
}

func maskName(v string) string {
	if v == "" {
		return ""
	}
	return v[:1] + "***"
}

// Report finishes the audit (the last batch of duplicate look-ups) and returns its figures.
func (a *Auditor) Report(ctx context.Context) (*Report, error) {
	if err := a.flush(ctx); err != nil {
		a.wait()
		return nil, err
	}
	if err := a.wait(); err != nil {
		return nil, err
	}
	r := a.rep
	r.Scanned = "every value a reader maps into a user (identities, names, mail, otherMails, phone, extensions); " +
		"columns a mapping leaves out are not exposed by the readers and were not scanned"
	for k, n := range a.reasons {
		r.Outcomes.Reasons = append(r.Outcomes.Reasons, Count{Name: k, Count: n})
	}
	sortCounts(r.Outcomes.Reasons)
	r.Outcomes.ReasonKinds = len(r.Outcomes.Reasons)
	if len(r.Outcomes.Reasons) > a.cfg.Top {
		r.Outcomes.Reasons = r.Outcomes.Reasons[:a.cfg.Top]
	}
	for k, n := range a.fill {
		rate := 0.0
		if r.Outcomes.Users > 0 {
			rate = float64(n) / float64(r.Outcomes.Users)
		}
		r.Fill = append(r.Fill, Fill{Attribute: k, Filled: n, Rate: rate})
	}
	sort.Slice(r.Fill, func(i, j int) bool {
		if r.Fill[i].Filled != r.Fill[j].Filled {
			return r.Fill[i].Filled > r.Fill[j].Filled
		}
		return r.Fill[i].Attribute < r.Fill[j].Attribute
	})
	for _, f := range a.flags {
		r.Sensitive = append(r.Sensitive, *f)
	}
	sort.Slice(r.Sensitive, func(i, j int) bool {
		if r.Sensitive[i].Count != r.Sensitive[j].Count {
			return r.Sensitive[i].Count > r.Sensitive[j].Count
		}
		return r.Sensitive[i].Attribute+r.Sensitive[i].Kind < r.Sensitive[j].Attribute+r.Sensitive[j].Kind
	})
	for k, n := range a.formats {
		r.Passwords.Formats = append(r.Passwords.Formats, Count{Name: k, Count: n})
	}
	sortCounts(r.Passwords.Formats)
	r.Duration = Estimate(r.Outcomes.Valid-r.Duplicates.WithinSource-r.Duplicates.AcrossSources-r.Duplicates.LegacyIDs, a.cfg)
	if a.cfg.Lookup != nil {
		t, err := a.cfg.Lookup.Report(ctx)
		if err != nil {
			return nil, err
		}
		r.Tenant = t
	}
	return &r, nil
}

func sortCounts(c []Count) {
	sort.Slice(c, func(i, j int) bool {
		if c[i].Count != c[j].Count {
			return c[i].Count > c[j].Count
		}
		return c[i].Name < c[j].Name
	})
}

// Estimate is the import's expected wall time for creates accounts at the tenant's write ceiling (one write per
// account), and the directory quota they need.
func Estimate(creates int64, cfg Config) Duration {
	cfg = cfg.withDefaults()
	if creates < 0 {
		creates = 0
	}
	appRate := float64(cfg.Apps*cfg.AppWrites) / cfg.AppWindow.Seconds()
	tenantRate := float64(cfg.TenantWrites) / cfg.TenantWindow.Seconds()
	rate := min(appRate, tenantRate)
	d := Duration{Creates: creates, Apps: cfg.Apps, WritesPerSecond: rate, Quota: cfg.Quota, OverQuota: creates > cfg.Quota}
	d.Seconds = float64(creates) / rate
	d.Bound = "app registrations"
	if tenantRate < appRate {
		d.Bound = "tenant"
	}
	return d
}
