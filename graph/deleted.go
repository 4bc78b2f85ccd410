package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A deleted user stays in the directory's deleted items for 30 days, restorable and still counted against the
// directory quota, unless it is purged (permanently deleted) first:
//
//	GET    /v1.0/directory/deletedItems/microsoft.graph.user   the deleted users (the OData cast is required)
//	GET    /v1.0/directory/deletedItems/{id}                    one deleted object
//	DELETE /v1.0/directory/deletedItems/{id}                    permanent delete → 204 No Content
//
// Purging needs User.DeleteRestore.All (or User.ReadWrite.All); see docs/contracts.md §5.

// DeletedUser is a user in the deleted items.
type DeletedUser struct {
	User
	// DeletedDateTime is when the user was deleted (zero when Graph did not say).
	DeletedDateTime time.Time
	// ODataType is the object's @odata.type when Graph gave it ("#microsoft.graph.user").
	ODataType string
}

// UnmarshalJSON reads a deleted user: the user's properties and extension attributes, deletedDateTime and
// @odata.type.
func (d *DeletedUser) UnmarshalJSON(b []byte) error {
	if err := d.User.UnmarshalJSON(b); err != nil {
		return err
	}
	var meta struct {
		Deleted   *time.Time `json:"deletedDateTime"`
		ODataType string     `json:"@odata.type"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return err
	}
	if meta.Deleted != nil {
		d.DeletedDateTime = *meta.Deleted
	}
	d.ODataType = meta.ODataType
	return nil
}

// GetDeletedUser reads a user from the deleted items by id. sel as in GetUser. An id that is not in the deleted
// items (never deleted, already purged, or older than 30 days) matches ErrNotFound; an object of another type
// (a deleted group or application) matches ErrNotFound too.
func (c *Client) GetDeletedUser(ctx context.Context, id string, sel []string) (*DeletedUser, error) {
	const op = "GET /v1.0/directory/deletedItems"
	if id == "" {
		return nil, &Error{Op: op, Kind: KindInvalid, Message: "empty id"}
	}
	var d DeletedUser
	path := "/v1.0/directory/deletedItems/" + url.PathEscape(id) + query("$select", strings.Join(sel, ","))
	if err := c.getJSON(ctx, path, &d); err != nil {
		return nil, err
	}
	if d.ODataType != "" && !strings.EqualFold(d.ODataType, "#microsoft.graph.user") {
		return nil, &Error{Op: op, Kind: KindNotFound, Message: "deleted object " + id + " is a " + d.ODataType + ", not a user"}
	}
	return &d, nil
}

// ListDeletedUsers calls fn for every user in the deleted items, page after page. opt.Select and opt.Top apply;
// opt.Filter is passed as is (Graph supports few filters there). An error from fn stops the listing.
func (c *Client) ListDeletedUsers(ctx context.Context, opt ListOptions, fn func(*DeletedUser) error) error {
	top := ""
	if opt.Top > 0 {
		top = strconv.Itoa(opt.Top)
	}
	path := "/v1.0/directory/deletedItems/microsoft.graph.user" + query("$select", strings.Join(opt.Select, ","), "$filter", opt.Filter, "$top", top)
	return c.pages(ctx, path, func(raw json.RawMessage) error {
		var d DeletedUser
		if err := json.Unmarshal(raw, &d); err != nil {
			return &Error{Op: "GET /v1.0/directory/deletedItems/microsoft.graph.user", Kind: KindOther, Err: err}
		}
		return fn(&d)
	})
}

// PurgeDeletedItem permanently deletes an object from the deleted items (DELETE
// /v1.0/directory/deletedItems/{id} → 204); it can no longer be restored and stops counting against the quota.
// It is a write, paced like the others, and retried; a 404 after an attempt whose answer was lost counts as
// success, any other 404 (never deleted, already purged) matches ErrNotFound.
func (c *Client) PurgeDeletedItem(ctx context.Context, id string) error {
	if id == "" {
		return &Error{Op: "DELETE /v1.0/directory/deletedItems", Kind: KindInvalid, Message: "empty id"}
	}
	_, err := c.do(ctx, &call{method: http.MethodDelete, path: "/v1.0/directory/deletedItems/" + url.PathEscape(id), writes: 1, safe: true})
	return err
}

// GetDeletedUser reads a deleted user (see Client.GetDeletedUser).
func (p *Pool) GetDeletedUser(ctx context.Context, id string, sel []string) (*DeletedUser, error) {
	return p.pick().GetDeletedUser(ctx, id, sel)
}

// ListDeletedUsers lists the deleted users (see Client.ListDeletedUsers).
func (p *Pool) ListDeletedUsers(ctx context.Context, opt ListOptions, fn func(*DeletedUser) error) error {
	return p.pick().ListDeletedUsers(ctx, opt, fn)
}

// PurgeDeletedItem permanently deletes through the least loaded client (see Client.PurgeDeletedItem).
func (p *Pool) PurgeDeletedItem(ctx context.Context, id string) error {
	return p.pick().PurgeDeletedItem(ctx, id)
}
