package importer

import (
	"fmt"
	"maps"
	"strings"

	"github.com/idshift/idshift"
)

// Merge is one accepted merge of a plan (package mergeplan): the accounts of Members are folded into Primary's.
// The user planned for the group is the primary's (its key, legacy id and profile, empty fields filled from the
// members in order), with the union of every account's identities (deduplicated case-insensitively; External ID's
// identity limits then apply as to any user) and the legacy credential of each (the primary's, with the members'
// as idshift.Alternate, sealed together under the primary's key). Each member is recorded under its own key with
// state idshift.StateMerged, without an object id or sign-in names of its own.
//
// The records of a merge's accounts are held as they are read (memory in proportion to the members still
// pending) until every account of the group has been read, or the sources end: the group is then planned with
// what was read, and the members not read are reported (logged and counted as Summary.MergesIncomplete). A group
// whose primary was not read is not planned: its accounts are rejected (field "merge"), so that no account is
// created under another key than the plan says.
//
// A merge whose accounts the tenant already holds apart (a member created or adopted on its own, or the primary
// created without a member, by a run without the plan) is refused: nothing is created or changed for its accounts,
// those already imported are counted as skipped and the others as rejected, each with a reason that names
// the merge and what the operator can do; the rest of the run goes on.
type Merge struct {
	Primary idshift.Key
	Members []idshift.Key
}

// mergeInfo is what a planned user knows of its merge.
type mergeInfo struct {
	primary idshift.Key
	// members are the members read, in the plan's order, with their lines (and positions, for duplicates).
	members []memberRef
	// missing are the members not read before the sources ended.
	missing []idshift.Key
	// holdsMissing: some missing members were merged into the account by an earlier run (it holds them).
	holdsMissing bool
}

type memberRef struct {
	key  idshift.Key
	line int64
}

// weight is how many records read a plan stands for: one, plus the members of a merge.
func (p *plan) weight() int64 {
	if p.merge == nil {
		return 1
	}
	return 1 + int64(len(p.merge.members))
}

func weight(plans []*plan) int64 {
	var n int64
	for _, p := range plans {
		n += p.weight()
	}
	return n
}

// keyText names an account as the plan file and the reasons do: source/legacyId.
func keyText(k idshift.Key) string { return k.Source + "/" + k.LegacyID }

// mergedNote is a member record's LastError: the account it was merged into.
func mergedNote(primary idshift.Key) string { return "merged into " + keyText(primary) }

// mergedDigest is a member record's Digest: the primary's key, in a form no body digest takes.
func mergedDigest(primary idshift.Key) string {
	return "merged\x1f" + primary.Source + "\x1f" + primary.LegacyID
}

// mergedInto returns the primary a member record was merged into.
func mergedInto(rec *idshift.Record) (idshift.Key, bool) {
	if rec == nil || rec.State != idshift.StateMerged {
		return idshift.Key{}, false
	}
	rest, ok := strings.CutPrefix(rec.Digest, "merged\x1f")
	if !ok {
		return idshift.Key{}, false
	}
	src, id, ok := strings.Cut(rest, "\x1f")
	return idshift.Key{Source: src, LegacyID: id}, ok
}

// mergedBodyPrefix marks the digest of a merged user's record, so that a run whose plan no longer holds the
// merge never patches the account down to the primary's own identities.
const mergedBodyPrefix = "merged-"

// group is one merge whose accounts are being read.
type group struct {
	m       *Merge
	primary *idshift.User
	members []*idshift.User // in m.Members order, nil until read
	got     int
}

// merger holds the accounts of accepted merges until their group is complete.
type merger struct {
	merges []Merge
	// idx gives the merge of every account of an accepted merge.
	idx map[idshift.Key]int
	// pending are the groups with accounts read but not yet planned; done the groups planned.
	pending map[int]*group
	done    map[int]bool
	// held is the number of records held.
	held int64
}

func newMerger(merges []Merge) (*merger, error) {
	mx := &merger{merges: merges, idx: make(map[idshift.Key]int), pending: make(map[int]*group), done: make(map[int]bool)}
	for i, m := range merges {
		if len(m.Members) == 0 {
			return nil, fmt.Errorf("importer: Merges[%d]: no member", i)
		}
		for _, k := range append([]idshift.Key{m.Primary}, m.Members...) {
			if prev, dup := mx.idx[k]; dup {
				return nil, fmt.Errorf("importer: Merges[%d]: account %s is already in Merges[%d]", i, keyText(k), prev)
			}
			mx.idx[k] = i
		}
	}
	return mx, nil
}

// add takes a user read. It returns held when the user is kept for its merge; with complete set, the group is
// now complete and is returned (and no longer held). A second record of an account already held is returned as a
// duplicate to reject.
func (mx *merger) add(u *idshift.User) (held bool, complete *group, dup *idshift.RowError) {
	i, ok := mx.idx[u.Key()]
	if !ok || mx.done[i] {
		return false, nil, nil
	}
	g := mx.pending[i]
	if g == nil {
		m := &mx.merges[i]
		g = &group{m: m, members: make([]*idshift.User, len(m.Members))}
		mx.pending[i] = g
	}
	slot := &g.primary
	if u.Key() != g.m.Primary {
		for j, k := range g.m.Members {
			if k == u.Key() {
				slot = &g.members[j]
			}
		}
	}
	if *slot != nil {
		return false, nil, &idshift.RowError{Line: u.Line, LegacyID: u.LegacyID, Field: "legacy_id", FirstLine: (*slot).Line,
			Reason: sprintf("duplicate legacy id %q, first at line %d", u.LegacyID, (*slot).Line)}
	}
	*slot = u
	g.got++
	mx.held++
	if g.got < 1+len(g.m.Members) {
		return true, nil, nil
	}
	mx.release(i, g)
	return true, g, nil
}

func (mx *merger) release(i int, g *group) {
	delete(mx.pending, i)
	mx.done[i] = true
	mx.held -= int64(g.got)
}

// rest returns the groups still pending when the sources end, in the plan's order, and holds nothing more.
func (mx *merger) rest() []*group {
	var out []*group
	for i := range mx.merges {
		if g := mx.pending[i]; g != nil {
			mx.release(i, g)
			out = append(out, g)
		}
	}
	return out
}

// users returns the group's accounts read, primary first.
func (g *group) users() []*idshift.User {
	var out []*idshift.User
	if g.primary != nil {
		out = append(out, g.primary)
	}
	for _, u := range g.members {
		if u != nil {
			out = append(out, u)
		}
	}
	return out
}

// merge builds the group's user (the primary must have been read) and what it knows of its merge. domain is the
// issuer of local identities given without one, so that the same identity is recognised in every account.
func (g *group) merge(domain string) (*idshift.User, *mergeInfo) {
	info := &mergeInfo{primary: g.m.Primary}
	u := *g.primary
	u.Identities = nil
	u.OtherMails = nil
	u.Extensions = maps.Clone(g.primary.Extensions)
	u.Credential = g.primary.Credential
	u.Credential.Alternates = nil
	seenID := map[string]bool{}
	seenMail := map[string]bool{}
	addFrom := func(v *idshift.User) {
		for _, id := range v.Identities {
			issuer := id.Issuer
			if issuer == "" && (id.SignInType == idshift.SignInEmail || id.SignInType == idshift.SignInUserName) {
				issuer = domain
			}
			k := strings.ToLower(id.SignInType + "\x00" + issuer + "\x00" + strings.TrimSpace(id.IssuerAssignedID))
			if !seenID[k] {
				seenID[k] = true
				u.Identities = append(u.Identities, id)
			}
		}
		for _, m := range v.OtherMails {
			if k := strings.ToLower(strings.TrimSpace(m)); k != "" && !seenMail[k] {
				seenMail[k] = true
				u.OtherMails = append(u.OtherMails, m)
			}
		}
	}
	addFrom(g.primary)
	for j, v := range g.members {
		if v == nil {
			info.missing = append(info.missing, g.m.Members[j])
			continue
		}
		info.members = append(info.members, memberRef{key: v.Key(), line: v.Line})
		addFrom(v)
		fill(&u.DisplayName, v.DisplayName)
		fill(&u.GivenName, v.GivenName)
		fill(&u.Surname, v.Surname)
		fill(&u.Mail, v.Mail)
		fill(&u.Phone, v.Phone)
		if u.PrivacyPolicy == nil {
			u.PrivacyPolicy = v.PrivacyPolicy
		}
		if u.TermsOfUse == nil {
			u.TermsOfUse = v.TermsOfUse
		}
		for name, val := range v.Extensions {
			if _, ok := u.Extensions[name]; !ok {
				if u.Extensions == nil {
					u.Extensions = map[string]any{}
				}
				u.Extensions[name] = val
			}
		}
		if u.Created.IsZero() {
			u.Created = v.Created
		}
		if u.LastSignIn.IsZero() {
			u.LastSignIn = v.LastSignIn
		}
		c := v.Credential
		c.Alternates = nil
		var names []string
		for _, id := range v.Identities {
			if id.SignInType == idshift.SignInEmail || id.SignInType == idshift.SignInUserName {
				names = append(names, strings.ToLower(strings.TrimSpace(id.IssuerAssignedID)))
			}
		}
		u.Credential.Alternates = append(u.Credential.Alternates, idshift.Alternate{Source: v.Source, LegacyID: v.LegacyID, SignInNames: names, Credential: c})
	}
	return &u, info
}

func fill(dst *string, v string) {
	if strings.TrimSpace(*dst) == "" {
		*dst = v
	}
}

// memberKeys returns the keys of the members a plan's merge folds in (none for a plain user).
func (p *plan) memberKeys() []idshift.Key {
	if p.merge == nil {
		return nil
	}
	out := make([]idshift.Key, len(p.merge.members))
	for i, m := range p.merge.members {
		out[i] = m.key
	}
	return out
}

// mergeText names a merge in reasons and logs: "merge of shop/1 with forum/a, forum/b".
func mergeText(primary idshift.Key, members []idshift.Key) string {
	names := make([]string, len(members))
	for i, k := range members {
		names[i] = keyText(k)
	}
	return "merge of " + keyText(primary) + " with " + strings.Join(names, ", ")
}

// inTenant reports whether a record says its account may have been sent to the tenant on its own: any state but
// those of an account never sent (pending, failed, rejected) and merged. States this code does not know count as
// sent, so that a merge is refused rather than followed over an account it cannot account for.
func inTenant(rec *idshift.Record) bool {
	if rec == nil {
		return false
	}
	switch rec.State {
	case idshift.StatePending, idshift.StateFailed, idshift.StateRejected, idshift.StateMerged:
		return false
	}
	return true
}

// refusal says why a merge cannot be followed any more ("" when it can): the tenant already holds some of its
// accounts apart, or an earlier run merged one of them elsewhere.
func refusal(p *plan, recs map[idshift.Key]*idshift.Record) string {
	primary := p.merge.primary
	var why []string
	for _, k := range p.memberKeys() {
		r := recs[k]
		if into, ok := mergedInto(r); ok {
			if into != primary {
				why = append(why, sprintf("%s was merged into %s by an earlier run", keyText(k), keyText(into)))
			}
			continue
		}
		if inTenant(r) {
			what := "was already imported on its own"
			if r.ObjectID != "" {
				what += " (object " + r.ObjectID + ")"
			} else {
				what += " (state " + string(r.State) + ")"
			}
			why = append(why, keyText(k)+" "+what)
		}
	}
	pr := recs[primary]
	if into, ok := mergedInto(pr); ok {
		why = append(why, sprintf("%s was merged into %s by an earlier run", keyText(primary), keyText(into)))
	} else if inTenant(pr) {
		for _, k := range p.memberKeys() {
			if into, ok := mergedInto(recs[k]); !ok || into != primary {
				why = append(why, sprintf("%s was already imported without %s", keyText(primary), keyText(k)))
			}
		}
	}
	if len(why) == 0 {
		return ""
	}
	return mergeText(primary, p.memberKeys()) + " refused: " + strings.Join(why, "; ") +
		". Nothing was created or changed for these accounts. Set \"accept\" to false for this merge to import them apart, " +
		"or roll the separate accounts back (idshift rollback) and import again to create the merged one"
}
