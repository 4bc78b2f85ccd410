package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// maxBatch is Graph's limit of requests in one JSON batch.
const maxBatch = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// serveBatch serves POST /$batch. The whole batch fails with 400 when it is malformed, holds more than 20
// requests, repeats an id, or has a request with a body and no Content-Type (or a write with no body). Otherwise
// each request runs through the same router (own faults, own throttling), in order, a request whose dependsOn
// failed getting 424; the answers come back shuffled, to be matched by id.
func (t *Tenant) serveBatch(c *call) *result {
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(c.body, &in); err != nil || in.Requests == nil {
		return c.fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
	}
	if len(in.Requests) > maxBatch {
		return c.fail(http.StatusBadRequest, "BadRequest", "The number of requests in the batch exceeds the limit of 20.")
	}
	if len(in.Requests) == 0 {
		return c.fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload format: the batch holds no request.")
	}
	seen := map[string]bool{}
	for _, r := range in.Requests {
		if r.ID == "" || r.Method == "" || r.URL == "" {
			return c.fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload format: each request needs id, method and url.")
		}
		if seen[r.ID] {
			return c.fail(http.StatusBadRequest, "BadRequest", "Batch request id '"+r.ID+"' is not unique.")
		}
		seen[r.ID] = true
		hasBody := len(r.Body) > 0 && !bytes.Equal(bytes.TrimSpace(r.Body), []byte("null"))
		hasCT := false
		for k, v := range r.Headers {
			if strings.EqualFold(k, "Content-Type") && v != "" {
				hasCT = true
			}
		}
		m := strings.ToUpper(r.Method)
		if (hasBody && !hasCT) || (!hasBody && (m == http.MethodPost || m == http.MethodPatch || m == http.MethodPut)) {
			return c.fail(http.StatusBadRequest, "BadRequest", "Write request id : "+r.ID+" does not contain Content-Type header or body.")
		}
		for _, d := range r.DependsOn {
			if !seen[d] {
				return c.fail(http.StatusBadRequest, "BadRequest", "Request id '"+r.ID+"' depends on '"+d+"', which is not an earlier request of the batch.")
			}
		}
	}
	status := map[string]int{}
	out := make([]any, 0, len(in.Requests))
	for _, r := range in.Requests {
		t.nRequests.Add(1)
		res := t.batchItem(c, r, status)
		if res == nil {
			return nil
		}
		status[r.ID] = res.status
		item := map[string]any{"id": r.ID, "status": res.status}
		h := map[string]string{}
		for k, v := range res.header {
			if len(v) > 0 {
				if strings.HasPrefix(k, "X-Ms-") {
					k = strings.ToLower(k) // as Graph spells them: x-ms-throttle-scope
				}
				h[k] = v[0]
			}
		}
		if text, ok := res.body.(plainText); ok {
			h["Content-Type"] = "text/plain"
			item["body"] = string(text)
		} else if res.body != nil {
			h["Content-Type"] = jsonContentType
			item["body"] = res.body
		}
		item["headers"] = h
		out = append(out, item)
	}
	t.faults.shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return c.result(http.StatusOK, map[string]any{"responses": out})
}

func (t *Tenant) batchItem(c *call, r batchRequest, status map[string]int) *result {
	inner := &call{ctx: c.ctx, method: strings.ToUpper(r.Method), version: c.version, header: http.Header{},
		claims: c.claims, base: c.base, reqID: c.reqID, clientReqID: c.clientReqID, inBatch: true}
	for k, v := range r.Headers {
		inner.header.Set(k, v)
	}
	if v := inner.header.Get("client-request-id"); v != "" {
		inner.clientReqID = v
	}
	for _, d := range r.DependsOn {
		if s := status[d]; s < 200 || s > 299 {
			return inner.fail(http.StatusFailedDependency, "FailedDependency", "The request depends on request '"+d+"', which failed.")
		}
	}
	raw := strings.TrimSpace(r.URL)
	if strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
		return inner.fail(http.StatusBadRequest, "BadRequest", "The url of a batch request must be relative to the version: '"+raw+"'.")
	}
	u, err := url.Parse("/" + strings.TrimPrefix(raw, "/"))
	if err != nil {
		return inner.fail(http.StatusBadRequest, "BadRequest", "Invalid request URL '"+raw+"'.")
	}
	inner.path, inner.query = u.Path, u.Query()
	if strings.HasPrefix(inner.path, "/v1.0/") || strings.HasPrefix(inner.path, "/beta/") || inner.path == "/$batch" {
		return inner.fail(http.StatusBadRequest, "BadRequest", "Invalid request URL '"+raw+"': it must be relative to the version and not a batch.")
	}
	if len(r.Body) > 0 {
		inner.body = r.Body
	}
	return t.serveCall(inner)
}
