package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/idshift/idshift/internal/uuid"
)

// DefaultCognitoClientID is the app client id of a LegacyCognito when its config names none.
const DefaultCognitoClientID = "1example23456789legacy"

// DefaultCognitoLockout is the number of wrong passwords in a row after which a LegacyCognito answers "Password
// attempts exceeded".
const DefaultCognitoLockout = 5

// LegacyCognitoConfig configures a LegacyCognito. Its zero value is usable.
type LegacyCognitoConfig struct {
	// ClientID is the app client's id, the only ClientId accepted. Default DefaultCognitoClientID.
	ClientID string
	// ClientSecret, when set, makes the app client a confidential one: SECRET_HASH is then required.
	ClientSecret string
	// Lockout is the number of wrong passwords in a row that lock an account. Default DefaultCognitoLockout.
	Lockout int
	// Users are the pool's users.
	Users []LegacyUser
	// Logger receives one line per request (never a password); discarded when nil.
	Logger *slog.Logger
}

// LegacyCognito emulates the InitiateAuth API of an Amazon Cognito user pool for the USER_PASSWORD_AUTH flow, the
// other side of the verify/cognito live check: POST / with X-Amz-Target
// AWSCognitoIdentityProviderService.InitiateAuth and Content-Type application/x-amz-json-1.1. Answers, as AWS's
// awsJson1_1 protocol gives them (errors: status 400, {"__type":…,"message":…} and an X-Amzn-ErrorType header):
//   - the right password: 200 {"AuthenticationResult":{…tokens…},"ChallengeParameters":{}}, or, for a MustChange
//     user, 200 {"ChallengeName":"NEW_PASSWORD_REQUIRED","Session":…}, or, for a user with a Challenge (MFA),
//     200 {"ChallengeName":Challenge,"Session":…};
//   - a wrong password: NotAuthorizedException "Incorrect username or password."; after Lockout of them in a row,
//     NotAuthorizedException "Password attempts exceeded" whatever the password;
//   - an unknown user: UserNotFoundException "User does not exist.";
//   - a disabled user: NotAuthorizedException "User is disabled.";
//   - a ResetRequired user: PasswordResetRequiredException "Password reset required for the user";
//   - a missing or wrong SECRET_HASH: NotAuthorizedException "Unable to verify secret hash for client …";
//   - another ClientId: ResourceNotFoundException; another AuthFlow: InvalidParameterException.
//
// It is an http.Handler, safe for concurrent use.
type LegacyCognito struct {
	clientID, secret string
	lockout          int
	users            map[string]LegacyUser
	log              *slog.Logger
	fault            atomic.Int32
	requests         atomic.Int64

	mu     sync.Mutex
	failed map[string]int
}

// NewLegacyCognito returns the emulation.
func NewLegacyCognito(c LegacyCognitoConfig) *LegacyCognito {
	l := &LegacyCognito{clientID: c.ClientID, secret: c.ClientSecret, lockout: c.Lockout, log: c.Logger,
		users: make(map[string]LegacyUser, len(c.Users)), failed: map[string]int{}}
	if l.clientID == "" {
		l.clientID = DefaultCognitoClientID
	}
	if l.lockout <= 0 {
		l.lockout = DefaultCognitoLockout
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	for _, u := range c.Users {
		if u.ObjectID == "" {
			u.ObjectID = uuid.New()
		}
		l.users[strings.ToLower(u.SignInName)] = u
	}
	return l
}

// ClientID returns the app client's id.
func (l *LegacyCognito) ClientID() string { return l.clientID }

// SetFault makes the emulation misbehave: FaultServerError (500 InternalErrorException) and FaultNotJSON apply;
// FaultNone stops.
func (l *LegacyCognito) SetFault(f LegacyFault) { l.fault.Store(int32(f)) }

// Requests returns the number of InitiateAuth requests served.
func (l *LegacyCognito) Requests() int64 { return l.requests.Load() }

// ServeHTTP implements http.Handler.
func (l *LegacyCognito) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" || r.Method != http.MethodPost {
		awsError(w, http.StatusNotFound, "UnknownOperationException", "")
		return
	}
	if r.Header.Get("X-Amz-Target") != "AWSCognitoIdentityProviderService.InitiateAuth" {
		awsError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-amz-json-1.1" {
		awsError(w, http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected.")
		return
	}
	l.requests.Add(1)
	switch LegacyFault(l.fault.Load()) {
	case FaultServerError:
		awsError(w, http.StatusInternalServerError, "InternalErrorException", "Internal server error.")
		return
	case FaultNotJSON:
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>Bad gateway</body></html>")
		return
	}
	var req struct {
		AuthFlow       string
		ClientID       string `json:"ClientId"`
		AuthParameters map[string]string
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || json.Unmarshal(body, &req) != nil {
		awsError(w, http.StatusBadRequest, "SerializationException", "Malformed request.")
		return
	}
	name, password := req.AuthParameters["USERNAME"], req.AuthParameters["PASSWORD"]
	switch {
	case req.ClientID != l.clientID:
		awsError(w, http.StatusBadRequest, "ResourceNotFoundException", "User pool client "+req.ClientID+" does not exist.")
		return
	case req.AuthFlow != "USER_PASSWORD_AUTH":
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client")
		return
	case name == "" || password == "":
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "Missing required parameter USERNAME")
		return
	}
	if l.secret != "" {
		m := hmac.New(sha256.New, []byte(l.secret))
		m.Write([]byte(name + l.clientID))
		want := base64.StdEncoding.EncodeToString(m.Sum(nil))
		if !hmac.Equal([]byte(req.AuthParameters["SECRET_HASH"]), []byte(want)) {
			awsError(w, http.StatusBadRequest, "NotAuthorizedException", "Unable to verify secret hash for client "+l.clientID)
			return
		}
	}
	key := strings.ToLower(name)
	u, known := l.users[key]
	switch {
	case !known:
		awsError(w, http.StatusBadRequest, "UserNotFoundException", "User does not exist.")
		return
	case u.ResetRequired:
		awsError(w, http.StatusBadRequest, "PasswordResetRequiredException", "Password reset required for the user")
		return
	case u.Disabled:
		awsError(w, http.StatusBadRequest, "NotAuthorizedException", "User is disabled.")
		return
	}
	l.mu.Lock()
	locked := l.failed[key] >= l.lockout
	right := !locked && u.Password == password
	switch {
	case right:
		delete(l.failed, key)
	case !locked:
		l.failed[key]++
	}
	l.mu.Unlock()
	switch {
	case locked:
		awsError(w, http.StatusBadRequest, "NotAuthorizedException", "Password attempts exceeded")
	case !right:
		l.log.Info("legacy Cognito: InitiateAuth refused")
		awsError(w, http.StatusBadRequest, "NotAuthorizedException", "Incorrect username or password.")
	case u.MustChange:
		writeAWSJSON(w, http.StatusOK, map[string]any{"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": uuid.New(),
			"ChallengeParameters": map[string]string{"USER_ID_FOR_SRP": u.ObjectID, "requiredAttributes": "[]", "userAttributes": "{}"}})
	case u.Challenge != "":
		writeAWSJSON(w, http.StatusOK, map[string]any{"ChallengeName": u.Challenge, "Session": uuid.New(),
			"ChallengeParameters": map[string]string{"USER_ID_FOR_SRP": u.ObjectID}})
	default:
		l.log.Info("legacy Cognito: InitiateAuth", "sub", u.ObjectID)
		tok := func(kind string) string {
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
				base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+u.ObjectID+`","token_use":"`+kind+`"}`)) + ".emulated"
		}
		writeAWSJSON(w, http.StatusOK, map[string]any{"ChallengeParameters": map[string]string{},
			"AuthenticationResult": map[string]any{"AccessToken": tok("access"), "IdToken": tok("id"), "RefreshToken": uuid.New(),
				"ExpiresIn": 3600, "TokenType": "Bearer"}})
	}
}

func awsError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-Errortype", typ+":")
	writeAWSJSON(w, status, map[string]string{"__type": typ, "message": msg})
}

func writeAWSJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", uuid.New())
	w.WriteHeader(status)
	w.Write(b)
}

var _ http.Handler = (*LegacyCognito)(nil)
