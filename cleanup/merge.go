package cleanup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idshift/idshift/mergeplan"
)

// MergeRule says which shared sign-in names link accounts of different sources into one proposed merge.
type MergeRule string

// The merge rules.
const (
	// RuleVerifiedEmail links accounts whose email is the same and verified on every side (User.EmailVerified true,
	// or a source of Config.TrustEmail). The default: an unverified address proves nothing about who owns it.
	RuleVerifiedEmail MergeRule = "verified-email"
	// RuleEmail links accounts whose email is the same, verified or not.
	RuleEmail MergeRule = "email"
	// RuleUserName links accounts whose userName is the same.
	RuleUserName MergeRule = "username"
	// RuleEmailUserName links accounts whose email (verified or not) or userName is the same.
	RuleEmailUserName MergeRule = "email+username"
)

// ParseMergeRule reads a rule by its name; "" is the default.
func ParseMergeRule(s string) (MergeRule, error) {
	switch r := MergeRule(strings.ToLower(strings.TrimSpace(s))); r {
	case "":
		return RuleVerifiedEmail, nil
	case RuleVerifiedEmail, RuleEmail, RuleUserName, RuleEmailUserName:
		return r, nil
	}
	return "", fmt.Errorf("cleanup: merge rule %q: want verified-email, email, username or email+username", s)
}

func (r MergeRule) email() bool    { return r != RuleUserName }
func (r MergeRule) userName() bool { return r == RuleUserName || r == RuleEmailUserName }

// Accept is how a plan's merges are accepted when it is written.
type Accept string

// The acceptance rules.
const (
	// AcceptNone accepts nothing: the operator edits the plan.
	AcceptNone Accept = "none"
	// AcceptAll accepts every merge.
	AcceptAll Accept = "all"
	// AcceptSlow accepts the merges whose weakest credential is a slow hash.
	AcceptSlow Accept = "slow"
)

// ParseAccept reads an acceptance rule by its name; "" is AcceptNone.
func ParseAccept(s string) (Accept, error) {
	switch a := Accept(strings.ToLower(strings.TrimSpace(s))); a {
	case "":
		return AcceptNone, nil
	case AcceptNone, AcceptAll, AcceptSlow:
		return a, nil
	}
	return "", fmt.Errorf("cleanup: accept %q: want none, all or slow", s)
}

// Family is the short name of a strength in a plan: none, unusable, plaintext, fast or slow.
func (s Strength) Family() string {
	switch s {
	case StrengthUnusable:
		return "unusable"
	case StrengthPlaintext:
		return "plaintext"
	case StrengthFastHash:
		return "fast"
	case StrengthSlowHash:
		return "slow"
	}
	return "none"
}

// Why a shared name across sources proposed no merge.
const (
	reasonUnverified = "same email, not verified on every side"
	reasonEmailRule  = "same email, the rule does not merge on email"
	reasonUserRule   = "same userName, the rule does not merge on userName"
)

// dup is a valid user the importer would reject: a repeated legacy id, or a sign-in name an earlier user of the
// same source has.
type dup struct {
	legacy bool
	first  uint32 // the earlier user
	kind   uint8
	name   uint8 // which string of the later user is the name
}

// share is a sign-in name found in several sources: the first account of each source that has it.
type share struct {
	kind uint8
	reps []key
}

// link is a name that linked accounts under the rule.
type link struct {
	k        key // an account of the link and its name
	verified bool
}

// resolve reads the sorted index and records the duplicates, the rule's outcomes and the proposed merges.
func (a *Auditor) resolve(ctx context.Context) error {
	s, err := a.idx.finish()
	if err != nil {
		return err
	}
	defer s.close()
	dups := map[uint32]dup{}
	var shares []share
	var grp, reps []key
	process := func() {
		if len(grp) < 2 {
			return
		}
		if grp[0].kind == kindLegacyID {
			for _, k := range grp[1:] {
				dups[k.ord] = dup{legacy: true, first: grp[0].ord, kind: kindLegacyID}
			}
			return
		}
		reps = reps[:0]
	next:
		for _, k := range grp {
			for _, r := range reps {
				if r.src == k.src {
					if d, ok := dups[k.ord]; !ok || !d.legacy && d.first > r.ord {
						dups[k.ord] = dup{first: r.ord, kind: k.kind, name: uint8(k.name())}
					}
					continue next
				}
			}
			reps = append(reps, k)
		}
		if len(reps) > 1 {
			shares = append(shares, share{kind: grp[0].kind, reps: slices.Clone(reps)})
		}
	}
	for n := 0; ; n++ {
		if n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k, ok := s.next()
		if !ok {
			break
		}
		if len(grp) > 0 && k.fp != grp[0].fp {
			process()
			grp = grp[:0]
		}
		grp = append(grp, k)
	}
	if s.err != nil {
		return fmt.Errorf("cleanup: duplicate index: %w", s.err)
	}
	process()

	d := &a.rep.Duplicates
	var within []uint32
	for ord, x := range dups {
		if x.legacy {
			d.LegacyIDs++
		} else {
			d.WithinSource++
			within = append(within, ord)
		}
	}
	slices.Sort(within)
	for _, ord := range within[:min(len(within), a.cfg.Samples)] {
		x := dups[ord]
		m, err := a.sample([]key{{ord: x.first, kind: x.kind}, {ord: ord, kind: x.kind, flags: x.name << 1}}, x.kind, ord, int(x.name))
		if err != nil {
			return err
		}
		d.WithinSamples = append(d.WithinSamples, m)
	}

	// The rule: which shares link accounts, and why the others do not.
	slices.SortFunc(shares, func(x, y share) int { return int(x.reps[0].ord) - int(y.reps[0].ord) })
	parent := map[uint32]uint32{}
	find := func(o uint32) uint32 {
		for {
			p, ok := parent[o]
			if !ok || p == o {
				return o
			}
			if gp := parent[p]; gp != p {
				parent[o] = gp
			}
			o = p
		}
	}
	var links []link
	join := func(ks []key, kind uint8) {
		verified := true
		for _, k := range ks {
			verified = verified && k.verified()
			if _, ok := parent[k.ord]; !ok {
				parent[k.ord] = k.ord
			}
		}
		for _, k := range ks[1:] {
			ra, rb := find(ks[0].ord), find(k.ord)
			if ra != rb {
				parent[max(ra, rb)] = min(ra, rb)
			}
		}
		links = append(links, link{k: ks[0], verified: verified && kind == kindEmail})
	}
	unfollowed := map[string]*Unfollowed{}
	var order []string
	refuse := func(reason string, ks []key, kind uint8) error {
		u := unfollowed[reason]
		if u == nil {
			u = &Unfollowed{Reason: reason}
			unfollowed[reason] = u
			order = append(order, reason)
		}
		u.Count++
		if len(u.Samples) < a.cfg.Samples {
			m, err := a.sample(ks, kind, ks[0].ord, ks[0].name())
			if err != nil {
				return err
			}
			u.Samples = append(u.Samples, m)
		}
		return nil
	}
	var live, verified []key
	for _, sh := range shares {
		live = live[:0]
		for _, k := range sh.reps {
			if _, rejected := dups[k.ord]; !rejected {
				live = append(live, k)
			}
		}
		if len(live) < 2 {
			continue
		}
		rule := a.cfg.Rule
		var err error
		switch {
		case sh.kind == kindUserName && !rule.userName():
			err = refuse(reasonUserRule, live, sh.kind)
		case sh.kind == kindUserName:
			join(live, sh.kind)
		case !rule.email():
			err = refuse(reasonEmailRule, live, sh.kind)
		case rule == RuleVerifiedEmail:
			verified = verified[:0]
			for _, k := range live {
				if k.verified() {
					verified = append(verified, k)
				}
			}
			if len(verified) > 1 {
				join(verified, sh.kind)
			}
			if len(verified) < len(live) {
				err = refuse(reasonUnverified, live, sh.kind)
			}
		default:
			join(live, sh.kind)
		}
		if err != nil {
			return err
		}
	}
	for _, r := range order {
		d.NotProposed = append(d.NotProposed, *unfollowed[r])
	}

	// The groups: one merge per root, its primary the first account read (first source, then earliest line).
	groups := map[uint32][]uint32{}
	for o := range parent {
		r := find(o)
		groups[r] = append(groups[r], o)
	}
	evidence := map[uint32][]link{}
	for _, l := range links {
		r := find(l.k.ord)
		evidence[r] = append(evidence[r], l)
	}
	roots := make([]uint32, 0, len(groups))
	for r := range groups {
		roots = append(roots, r)
	}
	slices.Sort(roots)
	a.merges = make([]Merge, 0, len(roots))
	for i, r := range roots {
		if i&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ords := groups[r]
		slices.Sort(ords)
		m := Merge{Guard: StrengthSlowHash}
		for j, o := range ords {
			side, err := a.side(o)
			if err != nil {
				return err
			}
			m.Guard = min(m.Guard, side.Guard)
			if j == 0 {
				m.Primary = side
			} else {
				m.Members = append(m.Members, side)
			}
		}
		var ev []string
		for _, l := range evidence[r] {
			e, err := a.evidence(l.k, l.verified)
			if err != nil {
				return err
			}
			if !slices.Contains(ev, e) {
				ev = append(ev, e)
			}
		}
		m.Evidence = strings.Join(ev, "; ")
		a.merges = append(a.merges, m)
		d.Proposed++
		d.Accounts += int64(len(ords))
		d.AcrossSources += int64(len(ords) - 1)
		d.ByWeakest[m.Guard.String()]++
	}
	return nil
}

// side reads an account's source, line, legacy id and credential strength back from the index.
func (a *Auditor) side(ord uint32) (Side, error) {
	line, strs, src, str, err := a.idx.account(ord, 0)
	if err != nil {
		return Side{}, err
	}
	return Side{Source: a.names[src], Line: line, LegacyID: strs[0], Guard: Strength(str)}, nil
}

// evidence describes a linking name, masked.
func (a *Auditor) evidence(k key, verified bool) (string, error) {
	_, strs, _, _, err := a.idx.account(k.ord, k.name())
	if err != nil {
		return "", err
	}
	v := strs[len(strs)-1]
	if k.kind == kindUserName {
		return "same userName " + maskName(v), nil
	}
	if verified {
		return "same email " + MaskEmail(v) + ", verified on every side", nil
	}
	return "same email " + MaskEmail(v), nil
}

// sample describes accounts that share a name (the name read from account ord, string number name) as a merge:
// the first as the primary, the others as members.
func (a *Auditor) sample(ks []key, kind uint8, ord uint32, name int) (Merge, error) {
	var m Merge
	m.Guard = StrengthSlowHash
	for i, k := range ks {
		side, err := a.side(k.ord)
		if err != nil {
			return Merge{}, err
		}
		if kind == kindEmail && k.verified() {
			side.EmailVerified = true
		}
		m.Guard = min(m.Guard, side.Guard)
		if i == 0 {
			m.Primary = side
		} else {
			m.Members = append(m.Members, side)
		}
	}
	e, err := a.evidence(key{ord: ord, kind: kind, flags: uint8(name << 1)}, false)
	if err != nil {
		return Merge{}, err
	}
	m.Evidence = e
	return m, nil
}

// Merges returns every merge the audit proposes (Report lists the first Config.Merges), in the order of their
// primary. It is empty before Report.
func (a *Auditor) Merges() []Merge { return a.merges }

// Plan returns every proposed merge as a plan, accepted by accept. The sources must have distinct names (they key
// the accounts).
func (a *Auditor) Plan(accept Accept, created time.Time) (*mergeplan.Plan, error) {
	accept, err := ParseAccept(string(accept))
	if err != nil {
		return nil, err
	}
	for i, n := range a.names {
		if strings.TrimSpace(n) == "" || slices.Contains(a.names[:i], n) {
			return nil, fmt.Errorf("cleanup: plan: source %d is named %q, empty or as another: name every source apart", i, n)
		}
	}
	p := &mergeplan.Plan{Version: mergeplan.Version, Created: created.UTC(), Rule: string(a.cfg.Rule), Sources: slices.Clone(a.names),
		Merges: make([]mergeplan.Merge, 0, len(a.merges))}
	member := func(s Side) mergeplan.Member {
		return mergeplan.Member{Source: s.Source, LegacyID: s.LegacyID, Line: s.Line, Guard: s.Guard.Family()}
	}
	for _, m := range a.merges {
		pm := mergeplan.Merge{Primary: member(m.Primary), Evidence: m.Evidence, GuardedBy: m.Guard.Family(),
			Accept: accept == AcceptAll || accept == AcceptSlow && m.Guard == StrengthSlowHash}
		for _, s := range m.Members {
			pm.Members = append(pm.Members, member(s))
		}
		p.Merges = append(p.Merges, pm)
	}
	return p, nil
}
