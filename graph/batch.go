package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// MaxBatch is the most requests one $batch may hold.
const MaxBatch = 20

// BatchRequest is one request of a $batch. URL is relative to the version ("/users"). A Body (any value that
// marshals to JSON, or a json.RawMessage) gets a Content-Type header if it has none.
type BatchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      any               `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

// BatchResponse is the answer to one request of a $batch. Status 0 means Graph's answer had no response for it.
type BatchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// Err returns nil for a 2xx answer and the decoded *Error otherwise.
func (r *BatchResponse) Err() error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	if r.Status == 0 {
		return &Error{Kind: KindUnknownOutcome, Message: "no response for request " + r.ID + " in the batch"}
	}
	return ParseError(r.Status, headerMap(r.Headers), r.Body)
}

type batchEnvelope struct {
	Requests []BatchRequest `json:"requests"`
}

type batchAnswer struct {
	Responses []BatchResponse `json:"responses"`
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, "":
		return false
	}
	return true
}

// Batch sends up to MaxBatch requests in one POST /v1.0/$batch and returns their responses in the order of reqs
// (Graph answers in any order; responses are matched by id). IDs must be unique and non-empty. Each write inside
// counts against the pacer. The envelope is retried like any request whose inner requests are all safe (GET,
// PATCH, PUT, DELETE); a batch holding a POST is retried only when Graph said it was not executed, and otherwise
// fails with ErrUnknownOutcome. Inner failures (including inner 429s) are in the responses, not in the error.
func (c *Client) Batch(ctx context.Context, reqs []BatchRequest) ([]BatchResponse, error) {
	const op = "POST /v1.0/$batch"
	if len(reqs) == 0 || len(reqs) > MaxBatch {
		return nil, &Error{Op: op, Kind: KindInvalid, Message: fmt.Sprintf("%d requests; a batch holds 1 to %d", len(reqs), MaxBatch)}
	}
	index := make(map[string]int, len(reqs))
	writes, safe := 0, true
	env := batchEnvelope{Requests: make([]BatchRequest, len(reqs))}
	for i, r := range reqs {
		if r.ID == "" {
			return nil, &Error{Op: op, Kind: KindInvalid, Message: fmt.Sprintf("request %d: empty id", i)}
		}
		if _, dup := index[r.ID]; dup {
			return nil, &Error{Op: op, Kind: KindInvalid, Message: fmt.Sprintf("request %d: duplicate id %q", i, r.ID)}
		}
		if r.Method == "" || r.URL == "" {
			return nil, &Error{Op: op, Kind: KindInvalid, Message: fmt.Sprintf("request %q: method and url are required", r.ID)}
		}
		index[r.ID] = i
		if isWrite(r.Method) {
			writes++
		}
		if r.Method == http.MethodPost {
			safe = false
		}
		if r.Body != nil && r.Headers["Content-Type"] == "" && r.Headers["content-type"] == "" {
			h := make(map[string]string, len(r.Headers)+1)
			for k, v := range r.Headers {
				h[k] = v
			}
			h["Content-Type"] = "application/json"
			r.Headers = h
		}
		env.Requests[i] = r
	}
	b, err := marshal(op, env)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &call{method: http.MethodPost, path: "/v1.0/$batch", body: b, writes: writes, safe: safe})
	if err != nil {
		return nil, err
	}
	var ans batchAnswer
	if err := json.Unmarshal(res.body, &ans); err != nil {
		if safe {
			return nil, &Error{Op: op, Kind: KindOther, Err: fmt.Errorf("decoding the response: %w", err)}
		}
		return nil, unknownOutcome(op, res.status, fmt.Errorf("decoding the response: %w", err), nil)
	}
	return matchResponses(reqs, index, ans.Responses), nil
}

// matchResponses puts responses in request order; a request without a response gets Status 0.
func matchResponses(reqs []BatchRequest, index map[string]int, got []BatchResponse) []BatchResponse {
	out := make([]BatchResponse, len(reqs))
	for i, r := range reqs {
		out[i].ID = r.ID
	}
	for _, r := range got {
		if i, ok := index[r.ID]; ok && out[i].Status == 0 {
			out[i] = r
		}
	}
	return out
}

// CreateResult is the outcome of one user of CreateUsers: the created user, or an error (see CreateUser for the
// errors and ErrUnknownOutcome).
type CreateResult struct {
	User *User
	Err  error
}

// CreateUsers creates users through $batch, at most MaxBatch per batch with up to Config.BatchConcurrency batches
// in flight, and returns one result per user in input order. Items Graph did not execute (inner 429, 424 failed
// dependency, 503 with Retry-After) are sent again in a later batch, up to MaxRetries times; other failures are
// mapped to typed errors. When a batch's answer is lost after it was sent, every item of it gets an error matching
// ErrUnknownOutcome.
func (c *Client) CreateUsers(ctx context.Context, users []*User) []CreateResult {
	return createUsers(ctx, users, c.batchN, func() *Client { return c })
}

// createUsers splits users into batches and runs them on the client pick chooses, n at a time.
func createUsers(ctx context.Context, users []*User, n int, pick func() *Client) []CreateResult {
	results := make([]CreateResult, len(users))
	if n < 1 {
		n = 1
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for start := 0; start < len(users); start += MaxBatch {
		end := min(start+MaxBatch, len(users))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			pick().createChunk(ctx, users[start:end], results[start:end])
		}()
	}
	wg.Wait()
	return results
}

// createChunk creates up to MaxBatch users, retrying the items Graph did not execute.
func (c *Client) createChunk(ctx context.Context, users []*User, out []CreateResult) {
	const op = "POST /v1.0/users"
	pending := make([]int, 0, len(users))
	bodies := make([]json.RawMessage, len(users))
	for i, u := range users {
		if u == nil {
			out[i].Err = &Error{Op: op, Kind: KindInvalid, Message: "no user"}
			continue
		}
		b, err := marshal(op, u)
		if err != nil {
			out[i].Err = err
			continue
		}
		bodies[i] = b
		pending = append(pending, i)
	}
	for round := 0; len(pending) > 0; round++ {
		reqs := make([]BatchRequest, len(pending))
		for k, i := range pending {
			reqs[k] = BatchRequest{ID: strconv.Itoa(i + 1), Method: http.MethodPost, URL: "/users",
				Headers: map[string]string{"Content-Type": "application/json"}, Body: bodies[i]}
		}
		resps, err := c.Batch(ctx, reqs)
		var ge *Error
		if errors.As(err, &ge) && ge.StatusCode == http.StatusFailedDependency && round < c.retries {
			// The whole batch failed without being executed: send it again.
			if err := c.sleep(ctx, c.backoff.Delay(round)); err == nil {
				continue
			}
		}
		if err != nil {
			for _, i := range pending {
				out[i].Err = err
			}
			return
		}
		var again []int
		var wait time.Duration
		for k, i := range pending {
			r := &resps[k]
			switch {
			case r.Status == http.StatusCreated || r.Status == http.StatusOK:
				var u User
				if err := json.Unmarshal(r.Body, &u); err != nil || u.ID == "" {
					if err == nil {
						err = errors.New("no id in the response")
					}
					out[i].Err = unknownOutcome(op, r.Status, err, nil)
					continue
				}
				out[i] = CreateResult{User: &u}
				continue
			case r.Status == 0:
				out[i].Err = unknownOutcome(op, 0, errors.New("no response for the item in the batch"), nil)
				continue
			}
			ge := ParseError(r.Status, headerMap(r.Headers), r.Body)
			ge.Op = op
			switch {
			case r.Status == http.StatusTooManyRequests:
				c.pacer.Throttled(c.appID, ge.ThrottleScope, ge.RetryAfter)
				out[i].Err = ge
				again = append(again, i)
			case r.Status == http.StatusFailedDependency:
				out[i].Err = ge
				again = append(again, i)
			case r.Status == http.StatusServiceUnavailable && ge.RetryAfter > 0:
				out[i].Err = ge
				again = append(again, i)
				wait = max(wait, ge.RetryAfter)
			case r.Status >= 500:
				out[i].Err = unknownOutcome(op, r.Status, nil, ge)
			default:
				out[i].Err = ge
			}
		}
		if len(again) == 0 || round >= c.retries {
			return
		}
		c.log.Info("graph: retrying items of a batch", "items", len(again), "round", round+1)
		if wait == 0 && len(again) > 0 && !anyThrottled(out, again) {
			wait = c.backoff.Delay(round)
		}
		if err := c.sleep(ctx, wait); err != nil {
			for _, i := range again {
				out[i].Err = fmt.Errorf("graph: %s: %w", op, err)
			}
			return
		}
		pending = again
	}
}

func anyThrottled(out []CreateResult, idx []int) bool {
	for _, i := range idx {
		if IsKind(out[i].Err, KindThrottled) {
			return true
		}
	}
	return false
}
