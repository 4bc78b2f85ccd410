package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/idshift/idshift"
)

// Kind classifies a Graph failure so that callers branch on it (errors.Is(err, graph.ErrConflict)) rather than on
// status codes or messages.
type Kind int

// Kinds of Error. KindOther is a failure none of the others describes.
const (
	KindOther              Kind = iota
	KindConflict                // an object with the same key (userPrincipalName, identity, ...) already exists
	KindThrottled               // 429: the request was not executed; retry after RetryAfter
	KindPasswordComplexity      // the password does not meet the tenant's complexity policy
	KindQuotaExceeded           // the directory object quota is exhausted
	KindForbidden               // 403: the app lacks a permission or a role
	KindUnauthorized            // 401: the token was refused
	KindNotFound                // 404
	KindInvalid                 // 400 for any other reason: the request is wrong and retrying will not help
	KindUnknownOutcome          // a write was sent and its outcome is unknown (timeout, reset, 5xx after sending)
	KindUnavailable             // the service failed (5xx) or kept throttling after every retry
)

var kindNames = [...]string{
	KindOther:              "graph error",
	KindConflict:           "conflict",
	KindThrottled:          "throttled",
	KindPasswordComplexity: "password does not meet the complexity policy",
	KindQuotaExceeded:      "directory quota exceeded",
	KindForbidden:          "forbidden",
	KindUnauthorized:       "unauthorized",
	KindNotFound:           "not found",
	KindInvalid:            "invalid request",
	KindUnknownOutcome:     "unknown outcome",
	KindUnavailable:        "service unavailable",
}

// String names the kind.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Error makes a Kind usable as an errors.Is target: the sentinels below are Kinds.
func (k Kind) Error() string { return "graph: " + k.String() }

// Sentinels for errors.Is. An *Error matches the sentinel of its Kind.
var (
	ErrConflict           error = KindConflict
	ErrThrottled          error = KindThrottled
	ErrPasswordComplexity error = KindPasswordComplexity
	ErrQuotaExceeded      error = KindQuotaExceeded
	ErrForbidden          error = KindForbidden
	ErrUnauthorized       error = KindUnauthorized
	ErrNotFound           error = KindNotFound
	ErrInvalid            error = KindInvalid
	ErrUnknownOutcome     error = KindUnknownOutcome
	ErrUnavailable        error = KindUnavailable
)

// ErrorDetail is one entry of the error's details array (e.g. {"code":"ObjectConflict","target":"userPrincipalName"}).
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Target  string `json:"target,omitempty"`
}

// Error is a failed Graph call: the HTTP status and Graph's error body, the throttling headers, and the Kind the
// client decided from them. Err holds a transport cause (timeout, reset) when there was no response.
// Messages come from Graph and never contain request bodies, so an Error is safe to log.
type Error struct {
	StatusCode    int
	Code          string
	Message       string
	Details       []ErrorDetail
	RequestID     string
	RetryAfter    time.Duration
	ThrottleScope string // x-ms-throttle-scope
	ThrottleInfo  string // x-ms-throttle-information
	Kind          Kind
	// Op names the call ("POST /v1.0/users").
	Op  string
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d ", e.StatusCode)
	}
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString(e.Kind.String())
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the error's Kind (graph.ErrConflict, ...) and the root package's sentinels of the
// same meaning (idshift.ErrConflict, idshift.ErrNotFound, idshift.ErrInvalid, idshift.ErrUnavailable,
// idshift.ErrUnknownOutcome).
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Kind:
		return t == e.Kind
	case *idshift.Error:
		return t.Field == "" && t.Message == "" && t.Err == nil && e.AppCode() == t.Code
	}
	return false
}

// AppCode maps the error to the root package's error codes (idshift.ECONFLICT, ...).
func (e *Error) AppCode() string {
	switch e.Kind {
	case KindConflict:
		return idshift.ECONFLICT
	case KindNotFound:
		return idshift.ENOTFOUND
	case KindInvalid, KindPasswordComplexity:
		return idshift.EINVALID
	case KindThrottled, KindUnavailable, KindQuotaExceeded:
		return idshift.EUNAVAILABLE
	case KindUnknownOutcome:
		return idshift.EUNKNOWNOUTCOME
	}
	return idshift.EINTERNAL
}

// Temporary reports whether the same request may succeed later without change.
func (e *Error) Temporary() bool {
	return e.Kind == KindThrottled || e.Kind == KindUnavailable
}

// errorBody is Graph's error envelope.
type errorBody struct {
	Error struct {
		Code       string        `json:"code"`
		Message    string        `json:"message"`
		Details    []ErrorDetail `json:"details"`
		InnerError struct {
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// ParseError builds an *Error from a Graph response: its status, headers (request-id, Retry-After,
// x-ms-throttle-scope, x-ms-throttle-information) and body (Graph's error envelope; an empty or non-JSON body is
// tolerated). The Kind is decided from the codes and details first, then the status, and from the message only
// for the weak-password and quota failures, which have no specific code.
func ParseError(status int, h http.Header, body []byte) *Error {
	e := &Error{StatusCode: status}
	if len(body) > 0 {
		var eb errorBody
		if err := json.Unmarshal(body, &eb); err == nil {
			e.Code = eb.Error.Code
			e.Message = eb.Error.Message
			e.Details = eb.Error.Details
			e.RequestID = eb.Error.InnerError.RequestID
		} else if s := strings.TrimSpace(string(bytes.ToValidUTF8(body, nil))); s != "" && !strings.HasPrefix(s, "<") {
			if len(s) > 200 {
				s = s[:200]
			}
			e.Message = s
		}
	}
	if h != nil {
		if e.RequestID == "" {
			e.RequestID = h.Get("request-id")
		}
		if e.RequestID == "" {
			e.RequestID = h.Get("client-request-id")
		}
		if d, ok := ParseRetryAfter(h.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
		e.ThrottleScope = h.Get("x-ms-throttle-scope")
		e.ThrottleInfo = h.Get("x-ms-throttle-information")
	}
	e.Kind = classify(e)
	return e
}

// headerMap adapts the headers of a batch item (a JSON object) to http.Header.
func headerMap(m map[string]string) http.Header {
	if len(m) == 0 {
		return nil
	}
	h := make(http.Header, len(m))
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// classify decides the Kind of an error: from Graph's codes and details first, from the status next, and from
// the message only for the two failures Graph gives no specific code to (weak password, object quota).
func classify(e *Error) Kind {
	codes := make([]string, 0, 1+len(e.Details))
	codes = append(codes, e.Code)
	for _, d := range e.Details {
		codes = append(codes, d.Code)
	}
	for _, c := range codes {
		switch strings.ToLower(c) {
		case "objectconflict", "request_multipleobjectswithsamekeyvalue", "conflict", "nameconflict":
			return KindConflict
		case "directory_quotaexceeded":
			return KindQuotaExceeded
		case "toomanyrequests", "request_throttledtemporarily", "activitylimitreached":
			return KindThrottled
		case "passwordpolicyviolation", "invalidpasswordcomplexity", "passwordtooweak":
			return KindPasswordComplexity
		case "authorization_requestdenied", "accessdenied", "authorization_identitynotfound":
			return KindForbidden
		case "invalidauthenticationtoken", "authentication_expiredtoken", "authentication_missingorinvalidauthorizationtoken",
			"authentication_unauthorized":
			return KindUnauthorized
		case "request_resourcenotfound", "resourcenotfound", "itemnotfound":
			return KindNotFound
		}
	}
	msg := strings.ToLower(e.Message)
	switch {
	case strings.Contains(msg, "password complexity") || strings.Contains(msg, "password does not comply"):
		return KindPasswordComplexity
	case strings.Contains(msg, "quota limit") && strings.Contains(msg, "exceeded"):
		return KindQuotaExceeded
	}
	switch {
	case e.StatusCode == http.StatusConflict:
		return KindConflict
	case e.StatusCode == http.StatusTooManyRequests:
		return KindThrottled
	case e.StatusCode == http.StatusUnauthorized:
		return KindUnauthorized
	case e.StatusCode == http.StatusForbidden:
		return KindForbidden
	case e.StatusCode == http.StatusNotFound:
		return KindNotFound
	case e.StatusCode == http.StatusBadRequest, e.StatusCode == http.StatusUnprocessableEntity,
		e.StatusCode == http.StatusMethodNotAllowed, e.StatusCode == http.StatusRequestEntityTooLarge,
		e.StatusCode == http.StatusPreconditionFailed:
		return KindInvalid
	case e.StatusCode >= 500:
		return KindUnavailable
	}
	return KindOther
}

// unknownOutcome turns a failure of a write that was sent into a KindUnknownOutcome error, keeping what is known.
func unknownOutcome(op string, status int, cause error, ge *Error) *Error {
	e := &Error{Op: op, StatusCode: status, Kind: KindUnknownOutcome, Err: cause}
	if ge != nil {
		e.Code, e.Message, e.Details, e.RequestID = ge.Code, ge.Message, ge.Details, ge.RequestID
		e.RetryAfter, e.ThrottleScope, e.ThrottleInfo = ge.RetryAfter, ge.ThrottleScope, ge.ThrottleInfo
	}
	return e
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
