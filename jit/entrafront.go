package jit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/jit/entra"
)

// ReasonBadContext: an authenticated callout whose password context could not be read (no key for it, tampered,
// expired, no nonce or no password). Nobody is migrated and the guard counts nothing.
const ReasonBadContext = "bad_context"

// Default texts of the Block screen.
const (
	DefaultBlockTitle         = "Sign-in blocked"
	DefaultBlockMessage       = "Your sign-in was blocked. Please try again later or contact support."
	DefaultUnavailableTitle   = "Sign-in unavailable"
	DefaultUnavailableMessage = "We cannot check your password right now. Please try again in a few minutes."
)

// EntraFront is the HTTP handler of Entra External ID's OnPasswordSubmit extension (docs/contracts.md §1).
//
// A call whose bearer token fails is answered 401 and nothing else, before its body is read. Every other call is
// answered 200, Content-Type application/json, with exactly one action and the nonce echoed, even on an internal
// error:
//   - the Service's decision (MigratePassword, UpdatePassword, Retry, Block);
//   - a password context that cannot be read (no matching key, tampered, expired, no nonce): Block with the
//     "unavailable" texts. It is our configuration's fault or a forgery, never the user's, so the user is not
//     told the password is wrong; nobody is migrated and nothing is counted;
//   - a panic or an encoding failure: the Service's "try later" action.
//
// Block carries BlockTitle/BlockMessage when the guard locked the account or the legacy system disabled it, and
// UnavailableTitle/UnavailableMessage when the service could not decide.
type EntraFront struct {
	// Auth checks the bearer token and decrypts the context. Required.
	Auth *entra.Authenticator
	// Service decides. Required.
	Service *Service
	// Namespace spells the actions' namespace: entra.NamespaceDocumented ("passwordSubmit", default) or
	// entra.NamespaceSample ("passwordsubmit").
	Namespace string
	// Texts of the Block screen; the Default* constants when empty.
	BlockTitle, BlockMessage             string
	UnavailableTitle, UnavailableMessage string
	// Logger; slog.Default() when nil. Never given a password, token or context.
	Logger *slog.Logger
}

// ServeHTTP answers one callout.
func (h *EntraFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	start := h.Service.Now()
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	// The budget starts when the call arrives: the token check and the decryption are part of it.
	ctx, cancel := context.WithTimeout(r.Context(), h.Service.Budget())
	defer cancel()

	var nonce string
	answered := false
	answer := func(d Decision) {
		answered = true
		title, msg := h.texts(d)
		if err := entra.WriteResponse(w, d.Action, nonce, title, msg, h.Namespace); err != nil {
			log.Error("entra: answer", "err", err)
			_ = entra.WriteResponse(w, h.Service.TryLater(), nonce, h.UnavailableTitle, h.UnavailableMessage, "")
		}
	}
	defer func() {
		if v := recover(); v != nil {
			log.Error("entra: panic answering a callout", "panic", v)
			if !answered {
				answer(Decision{Action: h.Service.TryLater(), Reason: ReasonUnavailable})
			}
		}
	}()

	c, err := h.Auth.Authenticate(ctx, r)
	switch {
	case errors.Is(err, entra.ErrUnauthenticated):
		log.Warn("entra: unauthenticated callout", "reason", entra.Reason(err), "remote", r.RemoteAddr)
		h.Service.metrics.unauthenticated(idshift.FrontEntra)
		w.WriteHeader(http.StatusUnauthorized)
		answered = true
		return
	case err != nil:
		var e *entra.Error
		if errors.As(err, &e) {
			nonce = e.Nonce
		}
		a := idshift.Attempt{Front: idshift.FrontEntra}
		if c != nil {
			a = c.Attempt()
			a.Password = ""
		}
		d := Decision{Action: idshift.ActionBlock, Reason: ReasonBadContext}
		if !errors.Is(err, entra.ErrBadContext) {
			d = Decision{Action: h.Service.TryLater(), Reason: ReasonUnavailable}
		}
		log.Warn("entra: unusable callout", "reason", entra.Reason(err), "callout", c)
		h.Service.Record(a, d, start, "")
		answer(d)
		return
	}
	nonce = c.Nonce
	answer(h.Service.Decide(ctx, c.Attempt()))
}

// texts returns the Block screen's title and message for d.
func (h *EntraFront) texts(d Decision) (string, string) {
	if d.Action != idshift.ActionBlock {
		return "", ""
	}
	switch d.Reason {
	case ReasonLocked, ReasonDisabled:
		return or(h.BlockTitle, DefaultBlockTitle), or(h.BlockMessage, DefaultBlockMessage)
	}
	return or(h.UnavailableTitle, DefaultUnavailableTitle), or(h.UnavailableMessage, DefaultUnavailableMessage)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var _ http.Handler = (*EntraFront)(nil)
