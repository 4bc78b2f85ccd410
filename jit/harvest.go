package jit

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/idshift/idshift"
)

// Directory is the External ID tenant as the harvest front sees it (graph.Harvester implements it).
type Directory interface {
	// FindUserByIdentity returns the id of the one account holding the local sign-in name and whether its
	// migration flag is set.
	FindUserByIdentity(ctx context.Context, name string) (id string, flagged bool, err error)
	// SetMigratedPassword writes the password and clears the migration flag in one request.
	SetMigratedPassword(ctx context.Context, id, password string) error
}

// Reasons of the harvest front.
const (
	ReasonNotInTenant    = "not_in_tenant"
	ReasonObjectMismatch = "object_mismatch"
)

// HarvestFront is the HTTP handler of the harvest call: a legacy system that still fronts sign-in (an Azure AD
// B2C custom policy's REST technical profile, or any application) sends the sign-in name and password it was
// given; when the legacy password is right, the password is written to the flagged External ID account and the
// flag cleared, in one PATCH.
//
// Request: POST, JSON or form-encoded, {"signInName"|"email"|"username": …, "password": …} with optional
// "objectId" and "clientIp" (the end user's address, for the guard). Callers authenticate with HTTP basic, a
// bearer secret or a client certificate (its SHA-256 fingerprint pinned); anything else gets 401 and nothing else.
//
// Answers (docs/serve.md):
//   - 200 {"migrated":true,"reason":"match"}: the password was right and is now the account's;
//   - 200 {"migrated":false,"reason":…}: right, but nothing was written: "migrated" (the account's flag was
//     already clear: a repeated call is harmless), "weak_password" (the tenant refused it: the account stays
//     flagged and the user resets at cutover), "not_in_tenant", "object_mismatch", "must_change";
//   - 409 B2C's error contract {"version":"1.0.0","status":409,"userMessage":…} (or, with PlainErrors,
//     {"error":…,"message":…}) for a wrong password, an unknown user and a blocked account;
//   - 400 for a request without name or password, 503 when the service cannot decide or the tenant failed.
type HarvestFront struct {
	// Service decides. Required.
	Service *Service
	// Directory is the tenant. Required.
	Directory Directory
	// IsNotFound and IsWeakPassword classify Directory's errors (graph.ErrNotFound, graph.ErrPasswordComplexity).
	IsNotFound, IsWeakPassword func(error) bool

	// Caller authentication: any one configured method suffices.
	BasicUser, BasicPassword string
	BearerSecrets            []string
	// ClientCertSHA256 are the hex SHA-256 fingerprints of accepted client certificates (the TLS listener must
	// request them; see docs/serve.md for TLS ending at a proxy).
	ClientCertSHA256 []string

	// PlainErrors answers refusals with {"error","message"} instead of B2C's contract.
	PlainErrors bool
	// WrongPasswordMessage and BlockedMessage are the userMessage shown by B2C.
	WrongPasswordMessage, BlockedMessage string
	// MaxBodyBytes caps the request; 16 KiB when zero.
	MaxBodyBytes int64
	Logger       *slog.Logger
}

const (
	defaultWrongPasswordMessage = "The user name or password is incorrect."
	defaultBlockedMessage       = "Your account is blocked. Please try again later or contact support."
)

type harvestRequest struct {
	name, password, objectID, clientIP string
}

// ServeHTTP answers one harvest call.
func (h *HarvestFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	if !h.authenticated(r) {
		h.Service.metrics.unauthenticated(idshift.FrontHarvest)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	start := h.Service.Now()
	req, err := h.decode(r)
	if err != nil || req.name == "" && req.objectID == "" || req.password == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad_request", "message": "signInName (or email, username) and password are required"})
		return
	}
	a := idshift.Attempt{Front: idshift.FrontHarvest, ObjectID: req.objectID, SignInName: req.name, ClientIP: req.clientIP, Password: req.password}
	d := h.Service.Verify(r.Context(), a)
	switch d.Action {
	case idshift.ActionMigrate:
	case idshift.ActionUpdate:
		h.Service.Record(a, d, start, "")
		writeJSON(w, http.StatusOK, map[string]any{"migrated": false, "reason": "must_change"})
		return
	case idshift.ActionRetry, idshift.ActionBlock:
		h.Service.Record(a, d, start, "")
		switch d.Reason {
		case ReasonUnavailable, ReasonTimeout, ReasonShed:
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "unavailable", "message": "try again later"})
		case ReasonLocked, ReasonDisabled:
			h.refuse(w, "blocked", or(h.BlockedMessage, defaultBlockedMessage))
		default:
			h.refuse(w, "invalid_credentials", or(h.WrongPasswordMessage, defaultWrongPasswordMessage))
		}
		return
	}

	// The legacy password is right: find the account and write it.
	name := req.name
	if name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad_request", "message": "signInName is required to find the account"})
		return
	}
	ctx := context.WithoutCancel(r.Context()) // a write once begun is finished
	id, flagged, err := h.Directory.FindUserByIdentity(ctx, name)
	answer := func(status int, migrated bool, reason, how string) {
		d.Reason = reason
		h.Service.Record(a, d, start, how)
		writeJSON(w, status, map[string]any{"migrated": migrated, "reason": reason})
	}
	switch {
	case err != nil && h.IsNotFound != nil && h.IsNotFound(err):
		answer(http.StatusOK, false, ReasonNotInTenant, "")
		return
	case err != nil:
		log.Error("harvest: find account", "source", d.Key.Source, "legacyId", d.Key.LegacyID, "err", err)
		d.Action = h.Service.TryLater()
		answer(http.StatusServiceUnavailable, false, ReasonUnavailable, "")
		return
	case d.ObjectID != "" && id != d.ObjectID, req.objectID != "" && id != req.objectID:
		// The identity lookup ignores the issuer and cannot tell an email from a user name: never write to an
		// account other than the one the store recorded.
		log.Error("harvest: the account found by identity is not the user's", "source", d.Key.Source,
			"legacyId", d.Key.LegacyID, "recorded", d.ObjectID, "found", id)
		answer(http.StatusOK, false, ReasonObjectMismatch, "")
		return
	case !flagged:
		answer(http.StatusOK, false, ReasonMigrated, "tenant")
		return
	}
	if err := h.Directory.SetMigratedPassword(ctx, id, req.password); err != nil {
		if h.IsWeakPassword != nil && h.IsWeakPassword(err) {
			log.Warn("harvest: the tenant refused the legacy password as too weak; the account stays flagged",
				"source", d.Key.Source, "legacyId", d.Key.LegacyID)
			answer(http.StatusOK, false, ReasonWeakPassword, "")
			return
		}
		log.Error("harvest: write password", "source", d.Key.Source, "legacyId", d.Key.LegacyID, "err", err)
		d.Action = h.Service.TryLater()
		answer(http.StatusServiceUnavailable, false, ReasonUnavailable, "")
		return
	}
	how := "harvest"
	if d.Matched.LegacyID != "" {
		how += ":" + d.Matched.Source + "/" + d.Matched.LegacyID // a merged account: whose credential matched
	}
	answer(http.StatusOK, true, ReasonMatch, how)
}

// refuse answers a wrong password or a blocked account: B2C's REST error contract (docs/contracts.md §9) or a
// plain JSON error.
func (h *HarvestFront) refuse(w http.ResponseWriter, code, userMessage string) {
	if h.PlainErrors {
		writeJSON(w, http.StatusConflict, map[string]any{"error": code, "message": userMessage})
		return
	}
	writeJSON(w, http.StatusConflict, map[string]any{"version": "1.0.0", "status": http.StatusConflict, "code": code, "userMessage": userMessage})
}

// authenticated compares the caller's credentials in constant time with every configured one.
func (h *HarvestFront) authenticated(r *http.Request) bool {
	ok := 0
	if u, p, has := r.BasicAuth(); has && h.BasicUser != "" && h.BasicPassword != "" {
		ok |= eq(u, h.BasicUser) & eq(p, h.BasicPassword)
	}
	if auth := r.Header.Get("Authorization"); len(h.BearerSecrets) > 0 && len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		tok := strings.TrimSpace(auth[7:])
		for _, s := range h.BearerSecrets {
			if s != "" {
				ok |= eq(tok, s)
			}
		}
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && len(h.ClientCertSHA256) > 0 {
		sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		got := hex.EncodeToString(sum[:])
		for _, fp := range h.ClientCertSHA256 {
			ok |= eq(got, strings.ToLower(strings.ReplaceAll(fp, ":", "")))
		}
	}
	return ok == 1
}

// eq compares in constant time (digests first, so the length is not revealed either).
func eq(a, b string) int {
	x, y := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(x[:], y[:])
}

func (h *HarvestFront) decode(r *http.Request) (harvestRequest, error) {
	max := h.MaxBodyBytes
	if max <= 0 {
		max = 16 << 10
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return harvestRequest{}, err
	}
	if int64(len(body)) > max {
		return harvestRequest{}, errors.New("harvest: body too large")
	}
	return decodeHarvest(r.Header.Get("Content-Type"), body)
}

// decodeHarvest reads a harvest body: form-encoded when contentType says so, JSON otherwise. The sign-in name is
// the first non-blank of signInName, email and username.
func decodeHarvest(contentType string, body []byte) (harvestRequest, error) {
	var get func(string) string
	ct, _, _ := mime.ParseMediaType(contentType)
	if ct == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return harvestRequest{}, errors.New("harvest: malformed form body")
		}
		get = v.Get
	} else {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return harvestRequest{}, errors.New("harvest: malformed JSON body")
		}
		get = func(k string) string { s, _ := m[k].(string); return s }
	}
	var req harvestRequest
	for _, k := range []string{"signInName", "email", "username"} {
		if req.name = strings.TrimSpace(get(k)); req.name != "" {
			break
		}
	}
	req.password, req.objectID, req.clientIP = get("password"), strings.TrimSpace(get("objectId")), strings.TrimSpace(get("clientIp"))
	return req, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

var _ http.Handler = (*HarvestFront)(nil)
