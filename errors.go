package idshift

import (
	"errors"
	"fmt"
)

// Error codes shared across packages. Callers branch on them with ErrorCode or errors.Is and the Err values below;
// the codes say what the caller can do (fix the input, try later, look the outcome up), not which transport failed.
const (
	ECONFLICT       = "conflict"        // the thing already exists
	EINVALID        = "invalid"         // bad input; Field names what is wrong
	ENOTFOUND       = "not_found"       // no such thing
	EUNAVAILABLE    = "unavailable"     // a dependency is down or throttling; try later
	EUNKNOWNOUTCOME = "unknown_outcome" // a write may or may not have happened
	EINTERNAL       = "internal"        // a bug or an unexpected failure
)

// Error is the application error: a code callers branch on, a message safe to show a user, the field at fault for
// EINVALID, and the wrapped cause (internal details, for logs only).
type Error struct {
	Code    string
	Field   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return msg + ": " + e.Err.Error()
	}
	if msg == "" {
		return e.Code
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Code: X}) match any *Error with code X.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Field == "" && t.Message == "" && t.Err == nil
}

// Sentinels for errors.Is.
var (
	ErrConflict       = &Error{Code: ECONFLICT}
	ErrInvalid        = &Error{Code: EINVALID}
	ErrNotFound       = &Error{Code: ENOTFOUND}
	ErrUnavailable    = &Error{Code: EUNAVAILABLE}
	ErrUnknownOutcome = &Error{Code: EUNKNOWNOUTCOME}
)

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// RowError is a malformed or invalid source record. Sources return it from Next and go on; the importer writes it
// to the reject file (JSON Lines) with its line and reason.
type RowError struct {
	// Source names the record's source when a run reads several (empty otherwise).
	Source   string `json:"source,omitempty"`
	Line     int64  `json:"line"`
	LegacyID string `json:"legacyId,omitempty"`
	Field    string `json:"field,omitempty"`
	Reason   string `json:"reason"`
	// FirstLine points at the earlier record when the reason is a duplicate.
	FirstLine int64 `json:"firstLine,omitempty"`
}

func (e *RowError) Error() string {
	s := fmt.Sprintf("line %d", e.Line)
	if e.Source != "" {
		s = e.Source + " " + s
	}
	if e.LegacyID != "" {
		s += fmt.Sprintf(" (%s)", e.LegacyID)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Reason
}
