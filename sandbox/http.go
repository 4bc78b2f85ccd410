package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody is the largest request body the Graph handler reads (Graph's own limit is 4 MB).
const maxBody = 4 << 20

// jsonContentType is the content type of Graph's JSON answers.
const jsonContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// call is one Graph request, outer or inside a batch.
type call struct {
	ctx         context.Context
	method      string
	version     string // "v1.0" or "beta"
	path        string // after the version, starting with "/"
	query       url.Values
	header      http.Header
	body        []byte
	claims      *claims
	base        string // scheme://host of the outer request
	reqID       string
	clientReqID string
	inBatch     bool
}

// result is a Graph answer before it is written (or embedded in a batch response).
type result struct {
	status int
	header http.Header
	body   any // marshalled as JSON; nil for no body
}

func (c *call) result(status int, body any) *result {
	return &result{status: status, header: http.Header{}, body: body}
}

// fail returns a Graph error answer: {"error":{"code","message","innerError":{...},"details":[...]}}.
func (c *call) fail(status int, code, msg string, details ...map[string]any) *result {
	e := map[string]any{
		"code":    code,
		"message": msg,
		"innerError": map[string]any{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        c.reqID,
			"client-request-id": c.clientReqID,
		},
	}
	if len(details) > 0 {
		e["details"] = details
	}
	return c.result(status, map[string]any{"error": e})
}

func (c *call) badRequest(msg string, details ...map[string]any) *result {
	return c.fail(http.StatusBadRequest, "Request_BadRequest", msg, details...)
}

// Handler returns the tenant's HTTP handler: OpenID discovery, JWKS and token endpoint under /{tenant}/, the
// external issuer's discovery and JWKS under /{tenantId}.ciamlogin.com/, Graph under /v1.0/ and /beta/, and the
// unauthenticated endpoints /_sandbox/users, /_sandbox/stats and /_sandbox/signin.
//
// The Reset and CommitThenFail faults abort the handler with http.ErrAbortHandler, which an http.Server turns
// into a dropped connection (HTTP/1) or a reset stream (HTTP/2).
func (t *Tenant) Handler() http.Handler { return http.HandlerFunc(t.serveHTTP) }

func (t *Tenant) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/"):
		t.serveGraph(w, r, "v1.0", strings.TrimPrefix(p, "/v1.0"))
		return
	case p == "/beta" || strings.HasPrefix(p, "/beta/"):
		t.serveGraph(w, r, "beta", strings.TrimPrefix(p, "/beta"))
		return
	case p == "/_sandbox/users":
		t.serveAdminUsers(w, r)
		return
	case p == "/_sandbox/stats":
		writeJSON(w, http.StatusOK, t.Stats())
		return
	case p == "/_sandbox/signin":
		t.serveSignIn(w, r)
		return
	}
	if t.serveExternal(w, r, p) {
		return
	}
	seg := strings.Split(strings.Trim(p, "/"), "/")
	if len(seg) >= 2 {
		tenant, rest := seg[0], strings.Join(seg[1:], "/")
		switch rest {
		case "v2.0/.well-known/openid-configuration", ".well-known/openid-configuration":
			t.serveDiscovery(w, r, tenant)
			return
		case "discovery/v2.0/keys", "discovery/keys":
			t.serveJWKS(w, r, tenant)
			return
		case "oauth2/v2.0/token":
			t.serveToken(w, r, tenant)
			return
		}
	}
	http.NotFound(w, r)
}

func (t *Tenant) serveAdminUsers(w http.ResponseWriter, r *http.Request) {
	users := t.Users()
	if r.URL.Query().Get("format") == "lines" {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, u := range users {
			if enc.Encode(u) != nil {
				return
			}
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(users), "value": users})
}

func (t *Tenant) serveGraph(w http.ResponseWriter, r *http.Request, version, path string) {
	t.nRequests.Add(1)
	c := &call{
		ctx: r.Context(), method: r.Method, version: version, path: path, query: r.URL.Query(),
		header: r.Header, base: baseURL(r), reqID: newGUID(),
	}
	c.clientReqID = r.Header.Get("client-request-id")
	if c.clientReqID == "" {
		c.clientReqID = c.reqID
	}
	if c.path == "" {
		c.path = "/"
	}
	var res *result
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		res = c.fail(http.StatusRequestEntityTooLarge, "Request_EntityTooLarge", "The request is too large.")
		t.write(w, c, res)
		return
	}
	c.body = body
	cl, err := t.authenticate(r)
	if err != nil {
		res = c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", err.Error())
		res.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="`+graphAppID+`"`)
		t.write(w, c, res)
		return
	}
	c.claims = cl
	if t.faults.draw("reset", t.cfg.Faults.Reset) {
		t.countFault("reset")
		panic(http.ErrAbortHandler)
	}
	if c.method == http.MethodPost && c.path == "/$batch" {
		res = t.serveBatch(c)
	} else {
		res = t.serveCall(c)
	}
	if res == nil {
		return // the request's context ended
	}
	if t.faults.draw("commitThenFail", t.cfg.Faults.CommitThenFail) {
		t.countFault("commitThenFail")
		t.log.LogAttrs(c.ctx, slog.LevelDebug, "graph request", slog.String("method", c.method),
			slog.String("path", version+path), slog.String("app", cl.AppID), slog.String("fault", "commitThenFail"))
		panic(http.ErrAbortHandler)
	}
	t.log.LogAttrs(c.ctx, slog.LevelDebug, "graph request", slog.String("method", c.method),
		slog.String("path", version+path), slog.String("app", cl.AppID), slog.Int("status", res.status),
		slog.String("request-id", c.reqID))
	t.write(w, c, res)
}

// serveCall applies the per-request faults (throttle, 500, 503, slow) and then routes c. It returns nil when
// c's context ends during an injected delay.
func (t *Tenant) serveCall(c *call) *result {
	f := t.cfg.Faults
	if t.faults.draw("throttle", f.Throttle) {
		t.countFault("throttle")
		t.nThrottled.Add(1)
		return t.throttled(c, 1+t.faults.float()*2, "Tenant_Application/ReadWrite/"+c.claims.AppID+"/"+t.cfg.TenantID, "ResourceUnitLimitExceeded")
	}
	if t.faults.draw("error500", f.Error500) {
		t.countFault("error500")
		return c.fail(http.StatusInternalServerError, "InternalServerError", "An internal server error occurred.")
	}
	if t.faults.draw("error503", f.Error503) {
		t.countFault("error503")
		res := c.fail(http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable. Please retry later.")
		if !f.Error503NoRetryAfter {
			res.header.Set("Retry-After", "1")
		}
		return res
	}
	if t.faults.draw("slow", f.Slow) {
		t.countFault("slow")
		d := f.SlowDelay
		if d <= 0 {
			d = 2 * time.Second
		}
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-c.ctx.Done():
			tm.Stop()
			return nil
		}
	}
	if res := t.admitRU(c); res != nil {
		return res
	}
	return t.route(c)
}

func (t *Tenant) write(w http.ResponseWriter, c *call, res *result) {
	h := w.Header()
	for k, v := range res.header {
		h[k] = v
	}
	h.Set("request-id", c.reqID)
	h.Set("client-request-id", c.clientReqID)
	if res.body == nil {
		w.WriteHeader(res.status)
		return
	}
	if text, ok := res.body.(plainText); ok {
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(res.status)
		_, _ = io.WriteString(w, string(text))
		return
	}
	h.Set("Content-Type", jsonContentType)
	b, err := marshal(res.body)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(res.status)
	_, _ = w.Write(b)
}

// route dispatches c to its resource handler.
func (t *Tenant) route(c *call) *result {
	seg := strings.Split(strings.Trim(c.path, "/"), "/")
	if len(seg) == 0 || seg[0] == "" {
		return c.fail(http.StatusBadRequest, "BadRequest", "Invalid request.")
	}
	head := seg[0]
	switch {
	case head == "users":
		return t.routeUsers(c, seg[1:])
	case head == "applications" || strings.HasPrefix(head, "applications("):
		return t.selectApplications(c, seg, t.routeApplications(c, seg))
	case head == "organization":
		return t.routeOrganization(c, seg[1:])
	case head == "identity" && len(seg) >= 2 && (seg[1] == "customAuthenticationExtensions" || seg[1] == "authenticationEventListeners"):
		return t.routeIdentity(c, seg[1], seg[2:])
	case head == "servicePrincipals":
		return t.routeServicePrincipals(c, seg[1:])
	case head == "directory":
		return t.routeDirectory(c, seg[1:])
	}
	return c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+head+"'.")
}

func (c *call) methodNotAllowed() *result {
	return c.fail(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

func (c *call) forbidden() *result {
	return c.fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

func (c *call) notFound(id string) *result {
	return c.fail(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

func (c *call) malformed() *result {
	return c.fail(http.StatusBadRequest, "BadRequest",
		"Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
}

// throttled builds a 429 answer with Retry-After in (possibly fractional) seconds.
func (t *Tenant) throttled(c *call, wait float64, scope, info string) *result {
	res := c.fail(http.StatusTooManyRequests, "TooManyRequests", "Too many requests. Please retry after the time in the Retry-After header.")
	res.header.Set("Retry-After", formatSeconds(wait))
	res.header.Set("x-ms-throttle-scope", scope)
	res.header.Set("x-ms-throttle-information", info)
	return res
}

func formatSeconds(s float64) string {
	if s < 0.001 {
		s = 0.001
	}
	v := strconv.FormatFloat(s, 'f', 3, 64)
	v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
	return v
}

// decodeObject decodes a JSON object body, keeping numbers as json.Number.
func decodeObject(b []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return m, true
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func itoa(i int) string { return strconv.Itoa(i) }
