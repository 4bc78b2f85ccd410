// Package graph is a thin, typed Microsoft Graph client for what a migration into Entra External ID needs: users
// (create, read, update, delete, find by identity, list), JSON batching, extension properties, applications, the
// beta custom authentication extensions and listeners, and the directory quota. It is built on net/http and
// azcore.TokenCredential, with Graph's write limits paced client-side (Pacer), 429s and Retry-After honoured,
// and a strict rule for retries: reads and idempotent writes (PATCH, DELETE) are retried, a create is retried only
// when Graph said it was not executed (429, or 503 with Retry-After) and otherwise ends in ErrUnknownOutcome.
//
// Example:
//
//	cred, err := graph.CredentialConfigFromEnv(os.Getenv).Credential()
//	c, err := graph.New(graph.Config{Credential: cred, AppID: os.Getenv("AZURE_CLIENT_ID")})
//	u, err := c.CreateUser(ctx, &graph.User{...})
//	switch {
//	case errors.Is(err, graph.ErrConflict): // an identity is taken
//	case errors.Is(err, graph.ErrUnknownOutcome): // look the user up before trying again
//	}
package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/idshift/idshift/internal/uuid"
)

// DefaultBaseURL is Microsoft Graph in the public cloud.
const DefaultBaseURL = "https://graph.microsoft.com"

// Config configures a Client. Only Credential is required.
type Config struct {
	// BaseURL is Graph's origin, without the version (default: $IDSHIFT_GRAPH_URL, else DefaultBaseURL). It must
	// be https. Sovereign clouds and the sandbox use their own.
	BaseURL string
	// Credential obtains access tokens (see CredentialConfig).
	Credential azcore.TokenCredential
	// Scopes of the tokens (default: BaseURL's origin + "/.default", i.e. "https://graph.microsoft.com/.default"
	// in the public cloud).
	Scopes []string
	// HTTPClient sends the requests (default: HTTPClient("")).
	HTTPClient *http.Client
	// AppID is the client (application) id of the app registration: it names the app's bucket in the Pacer and
	// appears in logs. Clients sharing a Pacer must have distinct AppIDs.
	AppID string
	// Pacing paces writes; share one between the Clients of a Pool. Nil means a Pacer of its own at
	// DefaultLimits (with Now and Sleep below).
	Pacing *Pacer
	// MaxRetries bounds the retries of one call (default 5; negative means none).
	MaxRetries int
	// Backoff between retries when Graph gives no Retry-After (default base 500ms, max 30s, full jitter).
	Backoff Backoff
	// Timeout bounds each attempt (default 60s).
	Timeout time.Duration
	// BatchConcurrency is how many $batch requests CreateUsers keeps in flight (default 4).
	BatchConcurrency int
	Logger           *slog.Logger
	// Now and Sleep are test hooks (default time.Now and a timer honouring ctx).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client is a Graph client for one app registration. It is safe for concurrent use.
type Client struct {
	base    string // origin (and path prefix) without trailing slash
	hc      *http.Client
	cred    azcore.TokenCredential
	scopes  []string
	appID   string
	pacer   *Pacer
	retries int
	backoff Backoff
	timeout time.Duration
	batchN  int
	log     *slog.Logger
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error

	tokMu sync.Mutex
	tok   azcore.AccessToken
}

// New validates cfg, fills its defaults and returns a Client. Errors name the field at fault.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = os.Getenv("IDSHIFT_GRAPH_URL")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("graph: BaseURL: %w", err)
	case u.Scheme != "https":
		return nil, errors.New("graph: BaseURL: must be https")
	case u.Host == "":
		return nil, errors.New("graph: BaseURL: no host")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, errors.New("graph: BaseURL: must not have a query, fragment or user info")
	}
	if cfg.Credential == nil {
		return nil, errors.New("graph: Credential: required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"https://" + u.Host + "/.default"}
	}
	for i, s := range cfg.Scopes {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("graph: Scopes[%d]: empty", i)
		}
	}
	if cfg.HTTPClient == nil {
		if cfg.HTTPClient, err = HTTPClient(""); err != nil {
			return nil, err
		}
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	} else if cfg.Timeout < 0 {
		return nil, errors.New("graph: Timeout: must be positive")
	}
	if cfg.BatchConcurrency == 0 {
		cfg.BatchConcurrency = 4
	} else if cfg.BatchConcurrency < 0 {
		return nil, errors.New("graph: BatchConcurrency: must be positive")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.Pacing == nil {
		cfg.Pacing = &Pacer{Now: cfg.Now, Sleep: cfg.Sleep, Logger: cfg.Logger}
	}
	if err := cfg.Pacing.init(); err != nil {
		return nil, fmt.Errorf("graph: Pacing: %w", err)
	}
	base := strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	return &Client{
		base: base, hc: cfg.HTTPClient, cred: cfg.Credential, scopes: cfg.Scopes, appID: cfg.AppID,
		pacer: cfg.Pacing, retries: cfg.MaxRetries, backoff: cfg.Backoff, timeout: cfg.Timeout,
		batchN: cfg.BatchConcurrency, log: cfg.Logger.With("app", cfg.AppID), now: cfg.Now, sleep: cfg.Sleep,
	}, nil
}

// AppID returns the app registration the client acts as.
func (c *Client) AppID() string { return c.appID }

// Pacer returns the client's pacer.
func (c *Client) Pacer() *Pacer { return c.pacer }

// call is one Graph request.
type call struct {
	method string
	path   string // "/v1.0/users?..." (relative to base), or an absolute URL on base (nextLink)
	body   []byte
	// writes is how many writes the request costs in the pacer (0 for reads).
	writes int
	// safe: the request may be repeated after it was sent (GET, PATCH, DELETE, and batches of those).
	safe   bool
	header map[string]string
}

func (r *call) op() string {
	p := r.path
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return r.method + " " + p
}

// result is a successful response.
type result struct {
	status int
	header http.Header
	body   []byte
	// ambiguous is true when an earlier attempt was sent and its outcome lost (a retried PATCH or DELETE).
	ambiguous bool
}

// do sends r with pacing, authentication and retries, and returns the 2xx response or an *Error.
func (c *Client) do(ctx context.Context, r *call) (*result, error) {
	op := r.op()
	var lastErr error
	ambiguous := false // an earlier attempt was sent and its outcome lost
	refreshed := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 && attempt > c.retries {
			return nil, lastErr
		}
		if r.writes > 0 {
			if err := c.pacer.Wait(ctx, c.appID, r.writes); err != nil {
				return nil, c.ctxErr(op, err, ambiguous && !r.safe)
			}
		}
		res, sent, err := c.once(ctx, r)
		if err == nil && res.status >= 200 && res.status < 300 {
			res.ambiguous = ambiguous
			return res, nil
		}
		if err != nil {
			// No response.
			var ge *Error
			if errors.As(err, &ge) {
				return nil, ge // no token, or a request that cannot be built: retrying will not help
			}
			if ctx.Err() != nil {
				return nil, c.ctxErr(op, err, (sent || ambiguous) && !r.safe)
			}
			if sent && !r.safe {
				return nil, unknownOutcome(op, 0, err, nil)
			}
			ambiguous = ambiguous || sent
			lastErr = &Error{Op: op, Kind: KindUnavailable, Err: err}
			if attempt >= c.retries {
				return nil, lastErr
			}
			d := c.backoff.Delay(attempt)
			c.log.Debug("graph: retry after transport error", "op", op, "attempt", attempt+1, "wait", d, "err", err)
			if err := c.sleep(ctx, d); err != nil {
				return nil, c.ctxErr(op, err, ambiguous && !r.safe)
			}
			continue
		}
		ge := ParseError(res.status, res.header, res.body)
		ge.Op = op
		lastErr = ge
		switch {
		case res.status == http.StatusUnauthorized && !refreshed:
			// The token may have been revoked or expired early: get a new one, once.
			refreshed = true
			c.dropToken()
			continue
		case res.status == http.StatusTooManyRequests:
			if r.writes > 0 {
				c.pacer.Throttled(c.appID, ge.ThrottleScope, ge.RetryAfter)
			}
			if attempt >= c.retries {
				return nil, ge
			}
			wait := ge.RetryAfter
			if wait <= 0 {
				wait = c.backoff.Delay(attempt)
			}
			if r.writes > 0 {
				// The pacer now holds every write of this app (or tenant) until Retry-After has passed.
				wait = 0
			}
			c.log.Info("graph: throttled", "op", op, "attempt", attempt+1, "retryAfter", ge.RetryAfter,
				"scope", ge.ThrottleScope, "info", ge.ThrottleInfo)
			if err := c.sleep(ctx, wait); err != nil {
				return nil, c.ctxErr(op, err, false)
			}
			continue
		case res.status == http.StatusServiceUnavailable && ge.RetryAfter > 0:
			// 503 with Retry-After: not executed, safe to retry for every method.
		case res.status >= 500:
			if !r.safe {
				return nil, unknownOutcome(op, res.status, nil, ge)
			}
			ambiguous = true
		case res.status == http.StatusNotFound && r.method == http.MethodDelete && ambiguous:
			// An earlier DELETE was sent and its answer lost: the object is gone, as asked.
			return &result{status: http.StatusNoContent, ambiguous: true}, nil
		default:
			return nil, ge
		}
		if attempt >= c.retries {
			return nil, ge
		}
		wait := ge.RetryAfter
		if wait <= 0 {
			wait = c.backoff.Delay(attempt)
		}
		c.log.Info("graph: retry", "op", op, "status", res.status, "attempt", attempt+1, "wait", wait,
			"requestId", ge.RequestID)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, c.ctxErr(op, err, ambiguous && !r.safe)
		}
	}
}

// ctxErr wraps a context error; a write whose outcome is unknown says so.
func (c *Client) ctxErr(op string, err error, unknown bool) error {
	if unknown {
		return unknownOutcome(op, 0, err, nil)
	}
	return fmt.Errorf("graph: %s: %w", op, err)
}

// errBody marks a failure to read a response body (the status line had arrived).
var errBody = errors.New("reading the response body")

// once sends one attempt. sent reports whether the whole request was written (so the server may have acted).
func (c *Client) once(ctx context.Context, r *call) (res *result, sent bool, err error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, false, &Error{Op: r.op(), Kind: KindUnauthorized, Err: fmt.Errorf("token: %w", err)}
	}
	target := r.path
	if !strings.HasPrefix(target, "https://") {
		target = c.base + target
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var wrote bool
	var wmu sync.Mutex
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wmu.Lock()
			wrote = true
			wmu.Unlock()
		}
	}}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), r.method, target, body)
	if err != nil {
		return nil, false, &Error{Op: r.op(), Kind: KindInvalid, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "idshift")
	req.Header.Set("client-request-id", uuid.New())
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	wmu.Lock()
	sent = wrote
	wmu.Unlock()
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("attempt timed out after %s: %w", c.timeout, err)
		}
		return nil, sent, err
	}
	defer resp.Body.Close()
	limit := int64(64 << 20)
	if resp.StatusCode >= 300 {
		limit = maxErrorBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			// The server acted but the answer was lost.
			return nil, true, fmt.Errorf("%w (status %d): %w", errBody, resp.StatusCode, err)
		}
		b = nil // the status line is enough for an error
	}
	return &result{status: resp.StatusCode, header: resp.Header, body: b}, true, nil
}

// token returns a cached access token, refreshed five minutes before it expires.
func (c *Client) token(ctx context.Context) (string, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok.Token != "" && c.now().Add(5*time.Minute).Before(c.tok.ExpiresOn) {
		return c.tok.Token, nil
	}
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: c.scopes})
	if err != nil {
		return "", err
	}
	c.tok = tok
	return tok.Token, nil
}

func (c *Client) dropToken() {
	c.tokMu.Lock()
	c.tok = azcore.AccessToken{}
	c.tokMu.Unlock()
}

// getJSON GETs path and decodes the body into out.
func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	res, err := c.do(ctx, &call{method: http.MethodGet, path: path, safe: true})
	if err != nil {
		return err
	}
	return decodeBody(path, res.body, out)
}

func decodeBody(path string, b []byte, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &Error{Op: path, Kind: KindOther, Err: fmt.Errorf("decoding the response: %w", err)}
	}
	return nil
}

// marshal encodes a request body.
func marshal(op string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Op: op, Kind: KindInvalid, Err: err}
	}
	return b, nil
}

// query builds a query string with OData's $-prefixed keys kept literal and values percent-encoded (spaces as %20).
func query(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(kv[i+1]), "+", "%20"))
	}
	return b.String()
}

// Quote returns s as an OData string literal: in single quotes, with single quotes doubled.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sameOrigin reports whether an absolute URL (a nextLink) points at the client's base, so that a token is never
// sent elsewhere.
func (c *Client) sameOrigin(link string) bool {
	return strings.HasPrefix(link, c.base+"/")
}
