package sandbox

import (
	"sort"
	"strings"
)

// directory is the tenant's data. Every access holds Tenant.mu. Stored property maps are never modified in
// place (updates replace them), so projections built under the read lock stay consistent.
type directory struct {
	t          *Tenant
	users      map[string]*user // by lower-case id
	byUPN      map[string]*user // by lower-case userPrincipalName
	byIdentity map[string]*user // by identityKey
	order      []*user          // creation order (ascending seq), deleted users included until compaction
	deleted    int
	seq        uint64
	bin        recycleBin // deleted users, counted against the quota until purged

	apps       []*application // creation order
	extByLower map[string]*extProp
	customExts []map[string]any
	listeners  []map[string]any
	sps        []*servicePrincipal // Microsoft Graph's first
}

func newDirectory(t *Tenant) *directory {
	d := &directory{
		t:          t,
		users:      map[string]*user{},
		byUPN:      map[string]*user{},
		byIdentity: map[string]*user{},
		extByLower: map[string]*extProp{},
		sps:        []*servicePrincipal{graphServicePrincipal()},
	}
	d.bin.delay = t.cfg.DeletedItemsDelay
	d.apps = append(d.apps, &application{props: map[string]any{
		"id": extensionsAppObjectID, "appId": extensionsAppID, "displayName": ExtensionsAppDisplayName,
		"createdDateTime": "2026-01-01T00:00:00Z", "signInAudience": "AzureADMyOrg",
		"keyCredentials": []any{}, "passwordCredentials": []any{}, "identifierUris": []any{},
		"tokenEncryptionKeyId": nil, "description": nil, "notes": nil,
	}})
	for i, a := range t.cfg.Apps {
		d.apps = append(d.apps, &application{props: map[string]any{
			"id": servicePrincipalID("app-object:" + a.ClientID), "appId": strings.ToLower(a.ClientID),
			"displayName": "idshift sandbox app " + itoa(i+1), "createdDateTime": "2026-01-01T00:00:00Z",
			"signInAudience": "AzureADMyOrg", "keyCredentials": []any{}, "passwordCredentials": []any{},
			"identifierUris": []any{}, "tokenEncryptionKeyId": nil, "description": nil, "notes": nil,
		}})
	}
	return d
}

// used is the number of directory objects counted against the quota, deleted users not yet purged included.
func (d *directory) used() int { return len(d.users) + len(d.apps) + d.bin.count(d.t.now()) }

func (d *directory) lookupUser(id string) *user {
	id = strings.ToLower(id)
	if u := d.users[id]; u != nil {
		return u
	}
	return d.byUPN[id]
}

func (d *directory) insert(u *user) {
	d.seq++
	u.seq = d.seq
	d.users[strings.ToLower(u.id)] = u
	d.index(u)
	d.order = append(d.order, u)
}

func (d *directory) index(u *user) {
	if s, ok := u.props["userPrincipalName"].(string); ok {
		d.byUPN[strings.ToLower(s)] = u
	}
	for _, k := range identityKeys(u.props) {
		d.byIdentity[k] = u
	}
}

func (d *directory) unindex(u *user) {
	if s, ok := u.props["userPrincipalName"].(string); ok && d.byUPN[strings.ToLower(s)] == u {
		delete(d.byUPN, strings.ToLower(s))
	}
	for _, k := range identityKeys(u.props) {
		if d.byIdentity[k] == u {
			delete(d.byIdentity, k)
		}
	}
}

// reindex replaces u's properties.
func (d *directory) reindex(u *user, props map[string]any) {
	d.unindex(u)
	u.props = props
	d.index(u)
}

func (d *directory) remove(u *user) {
	d.unindex(u)
	delete(d.users, strings.ToLower(u.id))
	u.deleted = true
	d.deleted++
	if d.deleted > 1024 && d.deleted > len(d.order)/2 {
		kept := d.order[:0]
		for _, o := range d.order {
			if !o.deleted {
				kept = append(kept, o)
			}
		}
		clear(d.order[len(kept):])
		d.order = kept
		d.deleted = 0
	}
}

func (d *directory) ordered() []*user {
	out := make([]*user, 0, len(d.users))
	for _, u := range d.order {
		if !u.deleted {
			out = append(out, u)
		}
	}
	return out
}

// query returns up to top users after seq that match f, the seq to continue from (0 at the end) and, when
// count is set, the number of all users matching f.
func (d *directory) query(f filter, after uint64, top int, count bool) (page []*user, next uint64, total int) {
	if cands, ok := indexed(f, d); ok {
		sort.Slice(cands, func(i, j int) bool { return cands[i].seq < cands[j].seq })
		for _, u := range cands {
			if f != nil && !f.match(u.props) {
				continue
			}
			total++
			if u.seq <= after {
				continue
			}
			if len(page) == top {
				if next == 0 {
					next = page[len(page)-1].seq
				}
				continue
			}
			page = append(page, u)
		}
		return page, next, total
	}
	start := sort.Search(len(d.order), func(i int) bool { return d.order[i].seq > after })
	if count {
		for _, u := range d.order {
			if !u.deleted && (f == nil || f.match(u.props)) {
				total++
			}
		}
	}
	for i := start; i < len(d.order); i++ {
		u := d.order[i]
		if u.deleted || (f != nil && !f.match(u.props)) {
			continue
		}
		if len(page) == top {
			next = page[len(page)-1].seq
			break
		}
		page = append(page, u)
	}
	return page, next, total
}
