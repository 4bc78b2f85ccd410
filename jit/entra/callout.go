package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/idshift/idshift"
)

// Wire names of the OnPasswordSubmit callout (docs/contracts.md §1.2).
const (
	EventType       = "microsoft.graph.authenticationEvent.passwordSubmit"
	CalloutDataType = "microsoft.graph.onPasswordSubmitCalloutData"
)

// DefaultMaxBodyBytes caps a callout's body (Entra's are about 3 KiB).
const DefaultMaxBodyBytes = 64 << 10

// CalloutRequest is the body Entra POSTs to the extension. The sender (the sandbox) marshals it; Authenticate
// decodes it leniently: unknown members ignored, null accepted wherever an object or string is.
type CalloutRequest struct {
	Type   string       `json:"type"`
	Source string       `json:"source,omitempty"`
	Data   *CalloutData `json:"data"`
}

// CalloutData is the data member of a callout.
type CalloutData struct {
	ODataType                       string                 `json:"@odata.type"`
	TenantID                        string                 `json:"tenantId"`
	AuthenticationEventListenerID   string                 `json:"authenticationEventListenerId"`
	CustomAuthenticationExtensionID string                 `json:"customAuthenticationExtensionId"`
	EncryptedPasswordContext        string                 `json:"encryptedPasswordContext"`
	AuthenticationContext           *AuthenticationContext `json:"authenticationContext"`
}

// AuthenticationContext describes the sign-in that caused the callout.
type AuthenticationContext struct {
	CorrelationID            string            `json:"correlationId"`
	Client                   *CalloutClient    `json:"client"`
	Protocol                 string            `json:"protocol,omitempty"`
	ClientServicePrincipal   *ServicePrincipal `json:"clientServicePrincipal"`
	ResourceServicePrincipal *ServicePrincipal `json:"resourceServicePrincipal"`
	User                     *CalloutUser      `json:"user"`
}

// CalloutClient is the end user's client: ip is the user's address, not Entra's.
type CalloutClient struct {
	IP     string `json:"ip"`
	Locale string `json:"locale,omitempty"`
	Market string `json:"market,omitempty"`
}

// ServicePrincipal is an application taking part in the sign-in.
type ServicePrincipal struct {
	ID             string `json:"id"`
	AppID          string `json:"appId"`
	AppDisplayName string `json:"appDisplayName,omitempty"`
	DisplayName    string `json:"displayName,omitempty"`
}

// CalloutUser is the signing-in user as the tenant knows it; only id is always present.
type CalloutUser struct {
	ID                string `json:"id"`
	Mail              string `json:"mail,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
	UserType          string `json:"userType,omitempty"`
	CreatedDateTime   string `json:"createdDateTime,omitempty"`
}

// Config configures an Authenticator: the bearer-token check, the context decryption and the body cap.
type Config struct {
	Token   TokenConfig
	Context ContextConfig
	// MaxBodyBytes caps the request body; default DefaultMaxBodyBytes (64 KiB).
	MaxBodyBytes int64
}

// Authenticator turns an HTTP callout into a Callout. Safe for concurrent use.
type Authenticator struct {
	tokens  *TokenValidator
	context *Decrypter
	maxBody int64
}

// New checks the configuration and builds an Authenticator. It does no I/O (see TokenValidator.Refresh).
func New(cfg Config) (*Authenticator, error) {
	tv, err := NewTokenValidator(cfg.Token)
	if err != nil {
		return nil, err
	}
	d, err := NewDecrypter(cfg.Context)
	if err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &Authenticator{tokens: tv, context: d, maxBody: cfg.MaxBodyBytes}, nil
}

// Tokens returns the bearer-token validator, for Ready, Stats and Refresh.
func (a *Authenticator) Tokens() *TokenValidator { return a.tokens }

// Ready reports whether the signing keys have been fetched (for /readyz).
func (a *Authenticator) Ready() bool { return a.tokens.Ready() }

// Callout is an authenticated, decrypted OnPasswordSubmit callout. Password is the secret; Callout's String,
// GoString, Format and LogValue never show it, nor does JSON.
type Callout struct {
	TenantID      string
	ListenerID    string // authenticationEventListenerId
	ExtensionID   string // customAuthenticationExtensionId
	CorrelationID string
	ClientIP      string // the end user's address (authenticationContext.client.ip)
	ClientAppID   string // authenticationContext.clientServicePrincipal.appId
	// UserID is the External ID object id (authenticationContext.user.id), always present.
	UserID            string
	Mail              string
	UserPrincipalName string
	// Username is the sign-in name the user typed (from the encrypted context), as sent; may be empty.
	Username string
	Nonce    string
	Password Secret `json:"-"`
	// Token is what the bearer token said.
	Token *Token
}

// Attempt returns the callout as the domain's attempt (front "entra", sign-in name lower-cased).
func (c *Callout) Attempt() idshift.Attempt {
	return idshift.Attempt{
		Front:         idshift.FrontEntra,
		ObjectID:      c.UserID,
		SignInName:    strings.ToLower(c.Username),
		ClientIP:      c.ClientIP,
		Nonce:         c.Nonce,
		CorrelationID: c.CorrelationID,
		Password:      c.Password.Reveal(),
	}
}

// String never shows the password.
func (c *Callout) String() string {
	if c == nil {
		return "entra.Callout(nil)"
	}
	return fmt.Sprintf("entra.Callout{tenant=%s user=%s name=%q ip=%s correlation=%s password=%s}",
		c.TenantID, c.UserID, c.Username, c.ClientIP, c.CorrelationID, redacted)
}

// GoString never shows the password.
func (c *Callout) GoString() string { return c.String() }

// Format never shows the password, whatever the verb.
func (c *Callout) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue never shows the password.
func (c *Callout) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("nil")
	}
	return slog.GroupValue(
		slog.String("tenant", c.TenantID), slog.String("user", c.UserID), slog.String("name", c.Username),
		slog.String("ip", c.ClientIP), slog.String("correlation", c.CorrelationID),
	)
}

// BearerToken returns the token of the request's Authorization header ("Bearer" scheme, case-insensitive). A
// missing header, another scheme or several Authorization headers give an Unauthenticated error.
func BearerToken(r *http.Request) (string, error) {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		return "", unauthenticated(ErrNoToken)
	}
	if len(hs) > 1 {
		return "", unauthenticated(fmt.Errorf("%w: several Authorization headers", ErrMalformedToken))
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(hs[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated(fmt.Errorf("%w: not a Bearer authorization", ErrNoToken))
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", unauthenticated(ErrNoToken)
	}
	return tok, nil
}

// Authenticate checks a callout's bearer token before reading anything of its body, then reads the body (at most
// MaxBodyBytes), decodes it and decrypts its encryptedPasswordContext.
//
// Errors are *Error:
//   - kind Unauthenticated (errors.Is(err, ErrUnauthenticated)): answer 401 and nothing else; the body was not
//     read. The Callout is nil.
//   - kind BadContext (errors.Is(err, ErrBadContext)): answer 200 with a non-migrating action, echoing
//     Error.Nonce when set. The Callout is non-nil when the body could be decoded: it holds what the body said
//     (user, correlation id, client IP, and the nonce when recovered) but never a password.
//
// The only other error is ctx's (the caller gave up). Authenticate does not close r.Body.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (*Callout, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	tok, err := a.tokens.Validate(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("entra: authenticate: %w", err)
	}
	if r.ContentLength > a.maxBody {
		return nil, badContext("", fmt.Errorf("%w: %d bytes declared", ErrBodyTooLarge, r.ContentLength))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
	if err != nil {
		return nil, badContext("", fmt.Errorf("%w: read: %w", ErrMalformedBody, err))
	}
	if int64(len(body)) > a.maxBody {
		return nil, badContext("", fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, a.maxBody))
	}
	c, jwe, err := decodeCallout(body)
	if err != nil {
		return nil, err
	}
	c.Token = tok
	pc, err := a.context.Decrypt(jwe)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			c.Nonce = e.Nonce
		}
		return c, err
	}
	c.Username, c.Nonce, c.Password = pc.Username, pc.Nonce, pc.Password
	return c, nil
}

// decodeCallout decodes a callout body and returns it with its encryptedPasswordContext.
func decodeCallout(body []byte) (*Callout, string, error) {
	var req CalloutRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, "", badContext("", fmt.Errorf("%w: %w", ErrMalformedBody, err))
	}
	if !strings.EqualFold(req.Type, EventType) {
		return nil, "", badContext("", fmt.Errorf("%w: type %q", ErrMalformedBody, req.Type))
	}
	d := req.Data
	if d == nil {
		return nil, "", badContext("", fmt.Errorf("%w: no data", ErrMalformedBody))
	}
	if !strings.EqualFold(strings.TrimPrefix(d.ODataType, "#"), CalloutDataType) {
		return nil, "", badContext("", fmt.Errorf("%w: data.@odata.type %q", ErrMalformedBody, d.ODataType))
	}
	ac := d.AuthenticationContext
	if ac == nil || ac.User == nil || ac.User.ID == "" {
		return nil, "", badContext("", fmt.Errorf("%w: no authenticationContext.user.id", ErrMalformedBody))
	}
	c := &Callout{
		TenantID: d.TenantID, ListenerID: d.AuthenticationEventListenerID, ExtensionID: d.CustomAuthenticationExtensionID,
		CorrelationID: ac.CorrelationID, UserID: ac.User.ID, Mail: ac.User.Mail, UserPrincipalName: ac.User.UserPrincipalName,
	}
	if ac.Client != nil {
		c.ClientIP = ac.Client.IP
	}
	if ac.ClientServicePrincipal != nil {
		c.ClientAppID = ac.ClientServicePrincipal.AppID
	}
	if d.EncryptedPasswordContext == "" {
		return c, "", badContext("", fmt.Errorf("%w: no encryptedPasswordContext", ErrMalformedBody))
	}
	return c, d.EncryptedPasswordContext, nil
}

var (
	_ fmt.Stringer   = (*Callout)(nil)
	_ fmt.GoStringer = (*Callout)(nil)
	_ fmt.Formatter  = (*Callout)(nil)
	_ slog.LogValuer = (*Callout)(nil)
)
