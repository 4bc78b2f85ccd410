package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// CreateUser creates a user (POST /v1.0/users) and returns the created object (with its id and
// userPrincipalName). It is never blindly retried: a 429, or a 503 with Retry-After, means Graph did not execute
// the request and it is sent again; a timeout, a reset connection or another 5xx after the request was sent
// returns an error matching ErrUnknownOutcome, and the caller must look the user up (FindUsersByIdentity) before
// trying again. Other failures match ErrConflict, ErrPasswordComplexity, ErrQuotaExceeded, ErrInvalid,
// ErrForbidden, ErrThrottled (retries exhausted), ...
func (c *Client) CreateUser(ctx context.Context, u *User) (*User, error) {
	const op = "POST /v1.0/users"
	if u == nil {
		return nil, &Error{Op: op, Kind: KindInvalid, Message: "no user"}
	}
	b, err := marshal(op, u)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &call{method: http.MethodPost, path: "/v1.0/users", body: b, writes: 1})
	if err != nil {
		return nil, err
	}
	var out User
	if err := json.Unmarshal(res.body, &out); err != nil || out.ID == "" {
		// Created, but the answer is unreadable: the caller cannot know the object.
		if err == nil {
			err = errors.New("no id in the response")
		}
		return nil, unknownOutcome(op, res.status, err, nil)
	}
	return &out, nil
}

// GetUser reads a user by id or userPrincipalName. sel lists the properties to return ($select); identities and
// extension attributes are returned only when selected. A missing user matches ErrNotFound.
func (c *Client) GetUser(ctx context.Context, id string, sel []string) (*User, error) {
	if id == "" {
		return nil, &Error{Op: "GET /v1.0/users", Kind: KindInvalid, Message: "empty id"}
	}
	var u User
	if err := c.getJSON(ctx, "/v1.0/users/"+url.PathEscape(id)+query("$select", strings.Join(sel, ",")), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UpdateUser patches a user (PATCH /v1.0/users/{id} → 204). A PATCH is idempotent and is retried. time.Time
// values are written as ISO 8601 UTC; a nil value clears the property. Setting passwordProfile needs
// User-PasswordProfile.ReadWrite.All (or User.ReadWrite.All) and, app-only, the User Administrator role;
// setting identities replaces the whole collection.
func (c *Client) UpdateUser(ctx context.Context, id string, patch map[string]any) error {
	const op = "PATCH /v1.0/users"
	if id == "" {
		return &Error{Op: op, Kind: KindInvalid, Message: "empty id"}
	}
	b, err := marshal(op, normalizePatch(patch))
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &call{method: http.MethodPatch, path: "/v1.0/users/" + url.PathEscape(id), body: b, writes: 1, safe: true})
	return err
}

// DeleteUser deletes a user (it goes to the deleted items for 30 days). It is retried; a 404 after an attempt
// whose answer was lost counts as success, any other 404 matches ErrNotFound.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	if id == "" {
		return &Error{Op: "DELETE /v1.0/users", Kind: KindInvalid, Message: "empty id"}
	}
	_, err := c.do(ctx, &call{method: http.MethodDelete, path: "/v1.0/users/" + url.PathEscape(id), writes: 1, safe: true})
	return err
}

// IdentityFilter returns the OData filter that finds users by one identity, with quotes escaped.
func IdentityFilter(issuer, issuerAssignedID string) string {
	return "identities/any(c:c/issuerAssignedId eq " + Quote(issuerAssignedID) + " and c/issuer eq " + Quote(issuer) + ")"
}

// FindUsersByIdentity returns the users having the identity (issuer, issuerAssignedID): none, one, or (in a
// tenant that broke the uniqueness rule) several. For local identities Graph ignores the issuer's value but
// requires one: pass the tenant's domain. sel as in GetUser.
func (c *Client) FindUsersByIdentity(ctx context.Context, issuer, issuerAssignedID string, sel []string) ([]User, error) {
	if issuer == "" || issuerAssignedID == "" {
		return nil, &Error{Op: "GET /v1.0/users", Kind: KindInvalid, Message: "issuer and issuerAssignedId are required"}
	}
	var out []User
	err := c.ListUsers(ctx, ListOptions{Select: sel, Filter: IdentityFilter(issuer, issuerAssignedID)}, func(u *User) error {
		out = append(out, *u)
		return nil
	})
	return out, err
}

// ListOptions select what ListUsers returns.
type ListOptions struct {
	Select []string
	// Filter is an OData filter, passed as is (escape literals with Quote).
	Filter string
	// Top is the page size (Graph's default 100, at most 999).
	Top int
}

// ListUsers calls fn for every user matching opt, page after page (@odata.nextLink). An error from fn stops the
// listing and is returned.
func (c *Client) ListUsers(ctx context.Context, opt ListOptions, fn func(*User) error) error {
	top := ""
	if opt.Top > 0 {
		top = strconv.Itoa(opt.Top)
	}
	path := "/v1.0/users" + query("$select", strings.Join(opt.Select, ","), "$filter", opt.Filter, "$top", top)
	return c.pages(ctx, path, func(raw json.RawMessage) error {
		var u User
		if err := json.Unmarshal(raw, &u); err != nil {
			return &Error{Op: "GET /v1.0/users", Kind: KindOther, Err: err}
		}
		return fn(&u)
	})
}

// page is one page of a collection.
type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// pages follows a collection's nextLinks, calling fn for each item.
func (c *Client) pages(ctx context.Context, path string, fn func(json.RawMessage) error) error {
	for path != "" {
		var p page
		if err := c.getJSON(ctx, path, &p); err != nil {
			return err
		}
		for _, v := range p.Value {
			if err := fn(v); err != nil {
				return err
			}
		}
		if p.NextLink != "" && !c.sameOrigin(p.NextLink) {
			return &Error{Op: "GET " + path, Kind: KindOther, Message: "nextLink points outside the Graph base URL"}
		}
		path = p.NextLink
	}
	return nil
}
