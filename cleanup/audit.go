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

// Config tunes an audit. The zero value is usable: the default pwhash options and Graph rules, a two-year stale
// threshold, one app registration at the documented write limits, a 300,000-object directory quota, merges on
// verified emails, and the duplicate index's temporary files in os.TempDir().
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
	// TempDir is where the duplicate index keeps its temporary files (removed when the audit ends); default
	// os.TempDir().
	TempDir string
	// Rule is the merge rule (default RuleVerifiedEmail).
	Rule MergeRule
	// TrustEmail names the sources whose email addresses count as verified whatever their records say: directories
	// that verified every address at sign-up (Azure AD B2C local accounts, for example).
	TrustEmail []string
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
	// Unmapped says the sources were opened to expose the values their mappings leave out (User.Unmapped): the
	// report then says they were scanned too. The values are scanned whenever users carry them.
	Unmapped bool
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
	if c.Rule == "" {
		c.Rule = RuleVerifiedEmail
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

// NamedSource is one source of an audit with the name its users are reported under.
type NamedSource struct {
	Name   string
	Source idshift.Source
}

// Run audits every source in order and returns the report. It reads each source to its end; a malformed record is
// counted, any other read error ends the audit. It writes nothing but the duplicate index's temporary files, removed
// before it returns.
func Run(ctx context.Context, cfg Config, sources []NamedSource) (*Report, error) {
	a, err := New(cfg)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	for i, s := range sources {
		if err := a.SetSource(ctx, i, s.Name); err != nil {
			return nil, err
		}
		if err := Drain(ctx, a, s); err != nil {
			return nil, err
		}
	}
	return a.Report(ctx)
}

// readBatch is how many records the reading goroutine hands over at a time.
const readBatch = 256

type readResult struct {
	users []*idshift.User
	// verdicts are the users', computed in the reading goroutine.
	verdicts []verdict
	rows     []*idshift.RowError
	// order interleaves them as read: false a user, true a row error.
	order []bool
	err   error
}

// Drain reads s to its end into a (after a.SetSource): a malformed record is counted, any other read error is
// returned. Three goroutines work as a pipeline: one reads the source, one checks each user as the importer's
// planning would, and the caller's audits what they did before; when ctx ends, all stop and Drain returns its
// error.
func Drain(ctx context.Context, a *Auditor, s NamedSource) error {
	// rctx stops the reading and checking goroutines; the users are added under ctx, which may outlive Drain (the
	// tenant look-ups go on after it).
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan *readResult, 4)
	out := make(chan *readResult, 4)
	free := make(chan *readResult, 10)
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		defer close(read)
		for {
			var b *readResult
			select {
			case b = <-free:
				b.users, b.verdicts, b.rows, b.order = b.users[:0], b.verdicts[:0], b.rows[:0], b.order[:0]
			default:
				b = &readResult{users: make([]*idshift.User, 0, readBatch), order: make([]bool, 0, readBatch)}
			}
			for len(b.order) < readBatch {
				u, err := s.Source.Next(rctx)
				if err == io.EOF {
					break
				}
				var re *idshift.RowError
				if errors.As(err, &re) {
					b.rows, b.order = append(b.rows, re), append(b.order, true)
					continue
				}
				if err != nil {
					b.err = fmt.Errorf("cleanup: source %s: %w", s.Name, err)
					break
				}
				b.users, b.order = append(b.users, u), append(b.order, false)
			}
			last := len(b.order) < readBatch
			select {
			case read <- b:
			case <-rctx.Done():
				return
			}
			if last {
				return
			}
		}
	}()
	cfg := a.cfg
	go func() {
		defer func() { done <- struct{}{} }()
		defer close(out)
		var p planner
		for b := range read {
			for _, u := range b.users {
				b.verdicts = append(b.verdicts, p.check(u, &cfg))
			}
			select {
			case out <- b:
			case <-rctx.Done():
				for range read {
				}
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range out {
		}
		<-done
		<-done
	}()
	for b := range out {
		ui, ri := 0, 0
		for _, row := range b.order {
			if row {
				a.AddRowError(b.rows[ri])
				ri++
				continue
			}
			if err := a.add(ctx, b.users[ui], b.verdicts[ui]); err != nil {
				return err
			}
			b.users[ui] = nil
			ui++
		}
		if b.err != nil {
			return b.err
		}
		select {
		case free <- b:
		default:
		}
	}
	return rctx.Err()
}

// Auditor accumulates an audit user by user. Its memory is bounded by the number of attribute names, reasons and
// samples, not by the number of users (the duplicate index is in temporary files); after Report it also holds the
// proposed merges. Add and the other methods are called by one goroutine at a time.
type Auditor struct {
	cfg     Config
	now     time.Time
	seed    maphash.Seed
	hash    maphash.Hash
	src     int
	srcName string
	names   []string // sources by index
	trusted bool     // the current source's emails count as verified
	rep     Report
	fill    map[string]int64
	reasons map[string]int64
	flags   map[string]*Flag
	formats map[string]int64
	idx     *index
	scratch planner // for Add; Drain's reading goroutine has its own
	// merges are every proposed merge, in the order of their primary, once Report has run.
	merges []Merge
	closed bool
	// unmapped holds the unmapped attribute names met in the current user (each fills once).
	unmapped map[string]bool
	kinds    map[string]string // SensitiveName by attribute name, "" when not sensitive
}

// maxKeys bounds the distinct attribute names and reject reasons kept; the rest are counted under "(other)".
const maxKeys = 1000

// New returns an auditor for cfg.
func New(cfg Config) (*Auditor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.HashOptions.Validate(); err != nil {
		return nil, fmt.Errorf("cleanup: hash options: %w", err)
	}
	if _, err := ParseMergeRule(string(cfg.Rule)); err != nil {
		return nil, err
	}
	idx, err := newIndex(cfg.TempDir)
	if err != nil {
		return nil, err
	}
	a := &Auditor{cfg: cfg, now: cfg.Now(), seed: maphash.MakeSeed(), fill: map[string]int64{}, reasons: map[string]int64{},
		flags: map[string]*Flag{}, formats: map[string]int64{}, idx: idx}
	a.hash.SetSeed(a.seed)
	a.rep.StaleAfterDays = int(cfg.StaleAfter / (24 * time.Hour))
	a.rep.Duplicates.ByWeakest = map[string]int64{}
	a.rep.Duplicates.Rule = string(cfg.Rule)
	return a, nil
}

// SetSource starts source number i (0 to 255) named name: the users added next belong to it.
func (a *Auditor) SetSource(ctx context.Context, i int, name string) error {
	if i < 0 || i > 255 {
		return fmt.Errorf("cleanup: source %d: at most 256 sources", i)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	a.src, a.srcName = i, name
	for len(a.rep.Sources) <= i {
		a.rep.Sources = append(a.rep.Sources, SourceCount{})
	}
	for len(a.names) <= i {
		a.names = append(a.names, "")
	}
	a.rep.Sources[i].Name, a.names[i] = name, name
	a.trusted = false
	for _, t := range a.cfg.TrustEmail {
		a.trusted = a.trusted || t == name
	}
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

// Add audits one user: its attributes, its staleness, its credential and its plan. A planned user's legacy id and
// sign-in names go to the duplicate index.
func (a *Auditor) Add(ctx context.Context, u *idshift.User) error {
	return a.add(ctx, u, a.scratch.check(u, &a.cfg))
}

// add audits u with its verdict, computed by check (in the reading goroutine when Drain reads).
func (a *Auditor) add(ctx context.Context, u *idshift.User, v verdict) error {
	a.ensureSource()
	sc := &a.rep.Sources[a.src]
	sc.Read++
	a.rep.Outcomes.Users++
	a.scan(u)
	a.stale(u)
	strength, _ := a.password(u, v.hashErr)

	if v.reason != "" {
		sc.Rejected++
		a.rep.Outcomes.Rejected++
		a.reason("rejected", v.field, v.reason)
		return nil
	}
	sc.Valid++
	a.rep.Outcomes.Valid++
	if a.cfg.Lookup != nil {
		if err := a.cfg.Lookup.Add(ctx, a.srcName, u); err != nil {
			return err
		}
	}
	ord, err := a.idx.user(u.Line, u.LegacyID, uint8(a.src), uint8(strength))
	if err != nil {
		return err
	}
	k := key{ord: ord, src: uint8(a.src), str: uint8(strength)}
	k.kind, k.fp = kindLegacyID, a.fingerprint(kindLegacyID, u.LegacyID)
	a.idx.add(k)
	verified, first := u.EmailVerified != nil && *u.EmailVerified, true
	name := 0
	for _, id := range u.Identities {
		switch id.SignInType {
		case idshift.SignInEmail:
			k.kind = kindEmail
		case idshift.SignInUserName:
			k.kind = kindUserName
		default:
			continue
		}
		if name == maxNames {
			break
		}
		name++
		v := strings.ToLower(strings.TrimSpace(id.IssuerAssignedID))
		a.idx.str(v)
		k.fp, k.flags = a.fingerprint(k.kind, v), uint8(name<<1)
		// The verification flag speaks of the user's email: the first email identity.
		if k.kind == kindEmail {
			if a.trusted || first && verified {
				k.flags |= 1
			}
			first = false
		}
		a.idx.add(k)
	}
	return nil
}

// verdict is what the importer's planning says of a user: the reason and field of a rejection ("" when planned),
// and the error pwhash.Normalize gives its legacy hash (nil when it has none or the hash is usable).
type verdict struct {
	reason, field string
	hashErr       error
}

// planner builds the Graph requests of the importer's planning, reusing its buffers; one goroutine uses it.
type planner struct {
	body     graph.User
	enabled  bool
	ids      []graph.Identity
	ext      map[string]any
	extNames map[string]string
	profile  graph.PasswordProfile
}

const appID = "00000000000000000000000000000000"

// extName is the Graph name of an extension attribute.
func (p *planner) extName(n string) string {
	if e, ok := p.extNames[n]; ok {
		return e
	}
	e := "extension_" + appID + "_" + n
	if p.extNames == nil {
		p.extNames = map[string]string{}
	}
	if len(p.extNames) < maxKeys {
		p.extNames[n] = e
	}
	return e
}

// check checks u's legacy hash with cfg's options, builds the Graph request the importer would send for u and
// validates it with the same rules. It reads only u and cfg.
func (p *planner) check(u *idshift.User, cfg *Config) verdict {
	var v verdict
	if u.Credential.Kind == idshift.CredentialHash {
		_, v.hashErr = pwhash.Normalize(u.Credential.Hash, cfg.HashOptions)
	}
	v.reason, v.field = p.plan(u, cfg, v.hashErr)
	return v
}

// plan returns the reason and field of a rejection, or "".
func (p *planner) plan(u *idshift.User, cfg *Config, hashErr error) (reason, field string) {
	if strings.TrimSpace(u.LegacyID) == "" {
		return "missing legacy id", "legacy_id"
	}
	if len(u.Identities) == 0 {
		return "no sign-in identity (email, username or federated)", "identities"
	}
	p.body = graph.User{
		DisplayName: strings.TrimSpace(u.DisplayName), GivenName: strings.TrimSpace(u.GivenName),
		Surname: strings.TrimSpace(u.Surname), Mail: strings.TrimSpace(u.Mail), OtherMails: u.OtherMails,
		MobilePhone: strings.TrimSpace(u.Phone),
	}
	body := &p.body
	p.enabled = !u.Disabled
	body.AccountEnabled = &p.enabled
	local := false
	p.ids = p.ids[:0]
	for _, id := range u.Identities {
		gid := graph.Identity{SignInType: id.SignInType, Issuer: id.Issuer, IssuerAssignedID: strings.TrimSpace(id.IssuerAssignedID)}
		if gid.SignInType == idshift.SignInEmail || gid.SignInType == idshift.SignInUserName {
			local = true
			if gid.Issuer == "" {
				gid.Issuer = cfg.Domain
			}
			if gid.SignInType == idshift.SignInEmail {
				gid.IssuerAssignedID = strings.ToLower(gid.IssuerAssignedID)
			}
		}
		p.ids = append(p.ids, gid)
	}
	body.Identities = p.ids
	if body.DisplayName == "" {
		body.DisplayName = strings.TrimSpace(body.GivenName + " " + body.Surname)
	}
	if body.DisplayName == "" {
		body.DisplayName = body.Identities[0].IssuerAssignedID
	}
	if hashErr != nil {
		return hashReason(hashErr), "password_hash"
	}
	if p.ext == nil {
		p.ext = map[string]any{}
	}
	clear(p.ext)
	p.ext[p.extName("legacyId")] = u.LegacyID
	for name, v := range u.Extensions {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339)
		}
		p.ext[p.extName(name)] = v
	}
	body.Extensions = p.ext
	if local {
		body.PasswordPolicies = "DisablePasswordExpiration"
		if cfg.DisableStrongPassword {
			body.PasswordPolicies += ", DisableStrongPassword"
		}
		p.profile = graph.PasswordProfile{Password: "Placeholder-0-Never-Sent"}
		body.PasswordProfile = &p.profile
		p.ext[p.extName("requiresMigration")] = true
	}
	if err := graph.ValidateUser(body, cfg.Rules); err != nil {
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

// password classifies u's credential as `hashes lint` does, with the error pwhash.Normalize gave its hash, and
// returns its strength and format.
func (a *Auditor) password(u *idshift.User, err error) (Strength, string) {
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

// identityAttr names the fill attribute of an identity type (without building the string for the usual ones).
func identityAttr(t string) string {
	switch t {
	case idshift.SignInEmail:
		return "identities." + idshift.SignInEmail
	case idshift.SignInUserName:
		return "identities." + idshift.SignInUserName
	case idshift.SignInFederated:
		return "identities." + idshift.SignInFederated
	}
	return "identities." + t
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
		name := identityAttr(id.SignInType)
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
		if kind, ok := a.sensitiveName(name); s != "" && ok {
			a.flag(attr, kind, "", u)
		}
		a.check(attr, s, u)
	}
	a.scanUnmapped(u)
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
		a.flag(attr, KindCard, MaskCard(d), u)
	}
	if s, ok := FindSSN(v); ok {
		a.flag(attr, KindSSN, MaskSSN(s), u)
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

// fingerprint hashes a name of kind; a legacy id is the current source's.
func (a *Auditor) fingerprint(kind uint8, v string) uint64 {
	h := &a.hash
	h.Reset()
	h.WriteByte(kind)
	if kind == kindLegacyID {
		h.WriteByte(uint8(a.src))
	}
	h.WriteString(v)
	return h.Sum64()
}

// Close removes the duplicate index's temporary files; an audit abandoned before Report must be closed. It is safe
// to call more than once.
func (a *Auditor) Close() error {
	if !a.closed {
		a.closed = true
		a.idx.close()
	}
	return nil
}

func maskName(v string) string {
	if v == "" {
		return ""
	}
	return v[:1] + "***"
}

// Report finishes the audit (the duplicates and merges are resolved from the index) and returns its figures. It
// is called once, and closes the auditor.
func (a *Auditor) Report(ctx context.Context) (*Report, error) {
	if a.closed {
		return nil, errors.New("cleanup: the audit is closed")
	}
	defer a.Close()
	if err := a.resolve(ctx); err != nil {
		return nil, err
	}
	r := a.rep
	r.Scanned = scanned(a.cfg.Unmapped)
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
	if len(a.merges) > a.cfg.Merges {
		r.Duplicates.Merges = a.merges[:a.cfg.Merges]
	} else {
		r.Duplicates.Merges = a.merges
	}
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
