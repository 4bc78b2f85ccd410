// Package tenant configures an External ID tenant for idshift through Microsoft Graph: the migration's extension
// attributes on the b2c-extensions-app, and everything Entra needs to call idshift's password-migration service at
// sign-in (docs/contracts.md §1.7): the extension's app registration with its api:// identifier URI, service
// principal and CustomAuthenticationExtension.Receive.Payload consent, a token encryption certificate, the
// onPasswordSubmitCustomExtension and the onPasswordSubmitListener. It also reads the directory quota.
//
// Setup is idempotent: a second run with the same Config sends nothing. With Config.DryRun it reads the tenant and
// returns the writes it would send, sending none. Check verifies every piece and says how to fix what is missing.
// RotateKey and RemoveKey manage the encryption certificates. docs/tenant.md describes the whole.
//
// Example:
//
//	res, err := tenant.Setup(ctx, client, tenant.Config{
//		TargetURL: "https://migrate.contoso.com/entra",
//		KeyOut:    "idshift-encryption-key.pem",
//	})
package tenant

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/idshift/idshift/graph"
)

// Defaults of Config.
const (
	DefaultAppDisplayName = "idshift password migration"
	DefaultTimeout        = time.Second
	DefaultPriority       = 500
	DefaultCertValidity   = 2 * 365 * 24 * time.Hour
	// MaxRetries is the extension's clientConfiguration.maximumRetries: Entra retries a callout at most once.
	MaxRetries = 1
)

// AuthenticationExtensibilityPasswordAdministrator is the role template id of the Entra role an administrator
// running setup needs besides Application Administrator (docs/contracts.md §1.7).
const AuthenticationExtensibilityPasswordAdministrator = "0b00bede-4072-4d22-b441-e7df02a1ef63"

// Config configures Setup, Check, RotateKey and RemoveKey. The zero value of every optional field is usable.
type Config struct {
	// ExtensionsAppID is the appId of the tenant's b2c-extensions-app; empty finds it by its display name.
	ExtensionsAppID string
	// MigrationAttribute (Boolean, default "requiresMigration") and LegacyIDAttribute (String, default
	// "legacyId") are the short names of the migration's extension attributes.
	MigrationAttribute, LegacyIDAttribute string
	// Attributes are more extension attributes the import writes (the consent markers of import.consent): Setup
	// creates the missing ones and Check reports them, as the two above.
	Attributes []Attribute

	// TargetURL is the https URL Entra calls (idshift serve's Entra front). Required by Setup; Check takes the
	// custom extension's when empty.
	TargetURL string
	// AppDisplayName names the extension's app registration (default DefaultAppDisplayName); Setup finds it by
	// this name or creates it. ExtensionDisplayName names the custom extension (default AppDisplayName).
	AppDisplayName, ExtensionDisplayName string
	// ClientAppIDs are the client applications whose sign-ins run the migration; empty means all applications.
	ClientAppIDs []string
	// Timeout is the extension's timeoutInMilliseconds, 200ms–2s (default 1s).
	Timeout time.Duration
	// Priority is the listener's priority (default 500).
	Priority int

	// KeyOut is the file Setup and RotateKey write a new private key to (PEM: PKCS#8 key and certificate, mode
	// 0600, never overwritten). Empty returns the key in Result.PrivateKeyPEM instead, for the caller to seal.
	KeyOut string
	// KeyFiles are the private keys the service decrypts with; Check verifies that one of them matches the
	// certificate Entra encrypts with (default KeyOut, when set).
	KeyFiles []string
	// CertValidity is the lifetime of a generated certificate (default two years); CertSubject its common
	// name (default AppDisplayName).
	CertValidity time.Duration
	CertSubject  string

	// DryRun reads the tenant and returns the writes that would be sent (Result.Requests), sending none and
	// writing no file.
	DryRun bool
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MigrationAttribute == "" {
		c.MigrationAttribute = "requiresMigration"
	}
	if c.LegacyIDAttribute == "" {
		c.LegacyIDAttribute = "legacyId"
	}
	if c.AppDisplayName == "" {
		c.AppDisplayName = DefaultAppDisplayName
	}
	if c.ExtensionDisplayName == "" {
		c.ExtensionDisplayName = c.AppDisplayName
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.CertValidity <= 0 {
		c.CertValidity = DefaultCertValidity
	}
	if c.CertSubject == "" {
		c.CertSubject = c.AppDisplayName
	}
	if len(c.KeyFiles) == 0 && c.KeyOut != "" {
		c.KeyFiles = []string{c.KeyOut}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrInvalidConfig is matched (errors.Is) by the errors of a Config that cannot be used.
var ErrInvalidConfig = errors.New("tenant: invalid configuration")

// validateTarget checks a target URL as Entra does (an https URL with a host) and returns its host.
func validateTarget(target string) (string, error) {
	u, err := url.Parse(target)
	if target == "" {
		return "", fmt.Errorf("%w: the target URL is required (https://{host}/{path} of idshift serve's Entra front)", ErrInvalidConfig)
	}
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("%w: target URL %q: Entra calls only a valid https URL (error 1003020)", ErrInvalidConfig, target)
	}
	return u.Hostname(), nil
}

func (c *Config) validateTimeout() error {
	if c.Timeout < 200*time.Millisecond || c.Timeout > 2*time.Second || c.Timeout%time.Millisecond != 0 {
		return fmt.Errorf("%w: timeout %s: Entra accepts 200ms to 2s, in whole milliseconds", ErrInvalidConfig, c.Timeout)
	}
	return nil
}

// ResourceID is the identifier URI of the extension's app and the resourceId of the custom extension:
// api://{host}/{appId}, host being that of the target URL (Entra's errors 1003014 and 1003015 otherwise).
func ResourceID(host, appID string) string { return "api://" + strings.ToLower(host) + "/" + appID }

// Request is a write Setup sent or, in a dry run, would send. Body holds no secret: no private key ever goes to
// Graph, and a certificate not yet generated shows as a placeholder in braces.
type Request struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   any    `json:"body,omitempty"`
}

// String formats the request as "METHOD path" and its JSON body.
func (r Request) String() string {
	if r.Body == nil {
		return r.Method + " " + r.Path
	}
	b, err := json.MarshalIndent(r.Body, "", "  ")
	if err != nil {
		return r.Method + " " + r.Path + " (body: " + err.Error() + ")"
	}
	return r.Method + " " + r.Path + "\n" + string(b)
}

// Result is what Setup, RotateKey or RemoveKey did (or, in a dry run, would do). Values not known in a dry run
// (the id of an object not yet created) are placeholders in braces.
type Result struct {
	// Requests are the writes, in order; empty when the tenant already matched.
	Requests []Request
	// ExtensionsAppID is the b2c-extensions-app's appId without dashes; MigrationPropertyID the listener's
	// full attribute name, extension_{ExtensionsAppID}_{MigrationAttribute}.
	ExtensionsAppID     string
	MigrationPropertyID string
	// The extension's app registration: appId, object id, and resourceId (its api:// identifier URI).
	AppID, AppObjectID, ResourceID string
	ExtensionID                    string
	ListenerID                     string
	// KeyID is the tokenEncryptionKeyId after the run. NewKey is set when a key was generated: KeyPath is the
	// file written (Config.KeyOut), or PrivateKeyPEM holds the key when no file was asked for.
	KeyID         string
	NewKey        bool
	KeyPath       string
	PrivateKeyPEM []byte `json:"-"`
	// Pending are the pieces Setup could not do itself (an admin consent it has no right to grant, a private
	// key it cannot recover), each with its fix.
	Pending []Finding
}

// Changed reports whether the run wrote (or would write) anything.
func (r *Result) Changed() bool { return len(r.Requests) > 0 }

// Finding is one verified piece of the configuration.
type Finding struct {
	// Item names the piece ("extension attributes", "application", "consent", ...).
	Item string `json:"item"`
	OK   bool   `json:"ok"`
	// Detail says what was found; Fix how to repair it (empty when OK).
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

func (f Finding) String() string {
	mark := "ok     "
	if !f.OK {
		mark = "MISSING"
	}
	s := mark + " " + f.Item + ": " + f.Detail
	if f.Fix != "" {
		s += "\n        fix: " + f.Fix
	}
	return s
}

// forbiddenFix says which permission and roles a 403 calls for.
func forbiddenFix(err error, permission string) string {
	if !errors.Is(err, graph.ErrForbidden) {
		return ""
	}
	return "Graph refused (403): give idshift's app registration the Graph application permission " + permission +
		" with admin consent; an administrator running setup needs the Application Administrator and Authentication " +
		"Extensibility Password Administrator (" + AuthenticationExtensibilityPasswordAdministrator + ") roles"
}

// graphErr wraps a Graph error with what was being done, naming the permission a 403 needs.
func graphErr(what string, err error, permission string) error {
	if fix := forbiddenFix(err, permission); fix != "" {
		return fmt.Errorf("tenant: %s: %w. %s", what, err, fix)
	}
	return fmt.Errorf("tenant: %s: %w", what, err)
}
