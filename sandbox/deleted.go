package sandbox

import (
	"net/http"
	"strings"
	"time"
)

// deletedRetention is how long a deleted user stays in the deleted items, restorable and counted against the
// directory quota, before the directory purges it (Graph: 30 days).
const deletedRetention = 30 * 24 * time.Hour

// binEntry is one user in the deleted items.
type binEntry struct {
	seq  uint64
	u    *user
	at   time.Time // deletion time
	gone bool      // purged (permanently deleted or expired)
}

// recycleBin is the tenant's deleted items (users only), in deletion order. Its zero value is empty and usable.
// Every access holds Tenant.mu (the write lock for the mutating methods).
type recycleBin struct {
	byID  map[string]*binEntry // by lower-case id; live entries only
	order []*binEntry          // deletion order; purged entries removed lazily
	seq   uint64
	gone  int
	// delay is how long after its deletion a user shows in the deleted items (Config.DeletedItemsDelay).
	delay time.Duration
}

// put adds a deleted user.
func (b *recycleBin) put(u *user, at time.Time) {
	if b.byID == nil {
		b.byID = map[string]*binEntry{}
	}
	b.seq++
	e := &binEntry{seq: b.seq, u: u, at: at}
	b.byID[strings.ToLower(u.id)] = e
	b.order = append(b.order, e)
}

// live returns the entry of id when it is in the deleted items, visible (Config.DeletedItemsDelay) and not
// expired at now.
func (b *recycleBin) live(id string, now time.Time) *binEntry {
	e := b.byID[strings.ToLower(id)]
	if e == nil || !b.visible(e, now) {
		return nil
	}
	return e
}

// visible reports whether Graph shows e at now: its delay after the deletion has passed, its retention not.
func (b *recycleBin) visible(e *binEntry, now time.Time) bool {
	return !now.Before(e.at.Add(b.delay)) && now.Before(e.at.Add(deletedRetention))
}

// count is the number of deleted users still counted against the quota at now. It only reads: entries expired
// but not yet dropped (they sit at the front of the deletion order) are skipped.
func (b *recycleBin) count(now time.Time) int {
	n := len(b.byID)
	for _, e := range b.order {
		if now.Before(e.at.Add(deletedRetention)) {
			break
		}
		if !e.gone {
			n--
		}
	}
	return n
}

// purge removes an entry for good.
func (b *recycleBin) purge(e *binEntry) {
	if e.gone {
		return
	}
	e.gone = true
	delete(b.byID, strings.ToLower(e.u.id))
	b.gone++
	if b.gone > 64 && b.gone > len(b.order)/2 {
		kept := b.order[:0]
		for _, o := range b.order {
			if !o.gone {
				kept = append(kept, o)
			}
		}
		clear(b.order[len(kept):])
		b.order = kept
		b.gone = 0
	}
}

// expire drops the entries older than the retention at now, as the directory does after 30 days.
func (b *recycleBin) expire(now time.Time) {
	for _, e := range b.order {
		if now.Before(e.at.Add(deletedRetention)) {
			break
		}
		b.purge(e)
	}
}

// recycle moves a user just removed from the directory to the deleted items. The caller holds the write lock.
func (d *directory) recycle(u *user) {
	now := d.t.now()
	d.bin.expire(now)
	d.bin.put(u, now)
}

// DeletedUsers returns the users in the deleted items, in deletion order, each with its deletedDateTime.
func (t *Tenant) DeletedUsers() []map[string]any {
	t.mu.RLock()
	defer t.mu.RUnlock()
	now := t.now()
	var out []map[string]any
	for _, e := range t.dir.bin.order {
		if !e.gone && now.Before(e.at.Add(deletedRetention)) {
			m := e.u.full()
			m["deletedDateTime"] = e.at.UTC().Format(time.RFC3339)
			out = append(out, m)
		}
	}
	return out
}

// QuotaUsed returns the number of directory objects counted against the quota: users, applications and the
// deleted users not yet purged (what GET /organization reports as directorySizeQuota.used).
func (t *Tenant) QuotaUsed() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.dir.used()
}

// routeDirectory serves /directory/deletedItems for users:
//
//	GET    /directory/deletedItems/microsoft.graph.user   list ($select, $top, nextLink)
//	GET    /directory/deletedItems/{id}                    one deleted user, with its @odata.type
//	DELETE /directory/deletedItems/{id}                    permanent delete → 204
//
// Graph requires the OData cast in a list (GET /directory/deletedItems alone is refused); other types of
// deleted objects (applications, groups) are not kept by the sandbox.
func (t *Tenant) routeDirectory(c *call, seg []string) *result {
	if len(seg) == 0 || seg[0] != "deletedItems" {
		s := "directory"
		if len(seg) > 0 {
			s = seg[0]
		}
		return c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+s+"'.")
	}
	read := c.claims.hasRole("User.Read.All", "User.ReadWrite.All", "User.DeleteRestore.All", "Directory.Read.All", "Directory.ReadWrite.All")
	write := c.claims.hasRole("User.DeleteRestore.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
	seg = seg[1:]
	switch {
	case len(seg) == 0 && c.method == http.MethodGet:
		return c.badRequest("The OData cast type is required: use /directory/deletedItems/microsoft.graph.user.")
	case len(seg) == 1 && c.method == http.MethodGet && strings.EqualFold(seg[0], "microsoft.graph.user"):
		if !read {
			return c.forbidden()
		}
		return t.listDeleted(c)
	case len(seg) == 1 && strings.HasPrefix(strings.ToLower(seg[0]), "microsoft.graph."):
		if c.method != http.MethodGet {
			return c.methodNotAllowed()
		}
		if !read {
			return c.forbidden()
		}
		// Deleted applications, groups, ...: none in the sandbox.
		return c.result(http.StatusOK, map[string]any{"@odata.context": c.base + "/" + c.version + "/$metadata#directoryObjects", "value": []any{}})
	case len(seg) == 1 && c.method == http.MethodGet:
		if !read {
			return c.forbidden()
		}
		return t.getDeleted(c, seg[0])
	case len(seg) == 1 && c.method == http.MethodDelete:
		if !write {
			return c.forbidden()
		}
		if r := t.admitWrite(c); r != nil {
			return r
		}
		return t.purgeDeleted(c, seg[0])
	case len(seg) <= 1:
		return c.methodNotAllowed()
	}
	return c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg[1]+"'.")
}

func deletedProps(e *binEntry, sel []string) map[string]any {
	m := project(e.u.props, sel)
	m["deletedDateTime"] = e.at.UTC().Format(time.RFC3339)
	return m
}

func (t *Tenant) listDeleted(c *call) *result {
	sel, top, after, res := t.pageQuery(c, "del")
	if res != nil {
		return res
	}
	if c.query.Get("$filter") != "" || c.query.Get("$orderby") != "" || c.query.Get("$search") != "" {
		return c.badRequest("Filtering, sorting and search of deleted items are not supported by the sandbox.").withCode("Request_UnsupportedQuery")
	}
	out := make([]any, 0)
	var next uint64
	t.mu.RLock()
	now := t.now()
	for _, e := range t.dir.bin.order {
		if e.gone || e.seq <= after || !t.dir.bin.visible(e, now) {
			continue
		}
		if len(out) == top {
			next = e.seq - 1
			break
		}
		out = append(out, deletedProps(e, sel))
	}
	t.mu.RUnlock()
	body := pageBody(c, sel, "/directory/deletedItems/microsoft.graph.user", "del", next)
	body["value"] = out
	return c.result(http.StatusOK, body)
}

func (t *Tenant) getDeleted(c *call, id string) *result {
	sel, res := t.parseSelect(c)
	if res != nil {
		return res
	}
	t.mu.RLock()
	e := t.dir.bin.live(id, t.now())
	var out map[string]any
	if e != nil {
		out = deletedProps(e, sel)
	}
	t.mu.RUnlock()
	if e == nil {
		return c.notFound(id)
	}
	out["@odata.context"] = c.base + "/" + c.version + "/$metadata#directory/deletedItems/$entity"
	out["@odata.type"] = "#microsoft.graph.user"
	return c.result(http.StatusOK, out)
}

func (t *Tenant) purgeDeleted(c *call, id string) *result {
	t.mu.Lock()
	now := t.now()
	t.dir.bin.expire(now)
	e := t.dir.bin.live(id, now)
	if e != nil {
		t.dir.bin.purge(e)
	}
	t.mu.Unlock()
	if e == nil {
		return c.notFound(id)
	}
	t.dirty.Store(true)
	return c.result(http.StatusNoContent, nil)
}
