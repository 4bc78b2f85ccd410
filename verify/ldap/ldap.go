// Package ldap checks a password live against an LDAP directory (OpenLDAP, 389 Directory Server, Active
// Directory): search for the user's entry with a service account, then bind as that entry with the password.
//
// Outcomes (idshift.Verifier):
//   - (true, nil): the bind succeeded.
//   - (false, nil): the bind failed with invalidCredentials (49) and no lockout or expiry indication, or no entry
//     matched the filter (an unknown user reads like a wrong password, on purpose).
//   - verify.ErrLocked: the password policy control (draft-behera-ldap-password-policy) says accountLocked, or
//     Active Directory's diagnostic says the account is locked, disabled or expired (data 775, 533, 701).
//   - verify.ErrMustChange: the password was accepted but the policy says it expired or was reset
//     (passwordExpired, changeAfterReset; Active Directory's data 532 and 773).
//   - an error matching verify.ErrUnavailable for anything else: the directory cannot be reached, times out,
//     refuses the service account, or the filter matches more than one entry.
//
// Empty passwords are refused before any network call (an empty simple bind is an anonymous bind, which succeeds).
package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/verify"
)

// Defaults.
const (
	DefaultPoolSize = 4
	DefaultTimeout  = 5 * time.Second
	DefaultScope    = "sub"
)

// Config configures the LDAP live check. Strictly decoded (unknown keys are errors) by the configuration loader.
//
// Example (YAML):
//
//	ldap:
//	  url: ldaps://ldap.example.com:636     # or ldap://…:389 with startTLS: true
//	  rootCA: /etc/idshift/ldap-ca.pem      # the directory's CA; the system pool when empty
//	  bindDN: cn=idshift,ou=services,dc=example,dc=com
//	  bindPW: "…"                           # the service account's password
//	  userSearch:
//	    baseDN: ou=people,dc=example,dc=com
//	    filter: "(&(objectClass=inetOrgPerson)(|(uid={name})(mail={name})))"
//	    scope: sub
//	  poolSize: 4
//	  timeout: 5s
//
// In Filter, {name} stands for the record's sign-in names (escaped with RFC 4515 rules; with several names the
// filter is repeated inside an OR) and {legacyId} for its legacy id.
type Config struct {
	// URL is the directory: ldaps://host[:636], or ldap://host[:389] with StartTLS or InsecureNoTLS. Required.
	URL string `yaml:"url" json:"url"`
	// StartTLS upgrades an ldap:// connection with the StartTLS extended operation before anything is sent.
	StartTLS bool `yaml:"startTLS" json:"startTLS,omitempty"`
	// InsecureNoTLS allows a plain ldap:// URL without StartTLS: passwords cross the network in clear. For tests
	// and labs only; Open logs a warning.
	InsecureNoTLS bool `yaml:"insecureNoTLS" json:"insecureNoTLS,omitempty"`
	// RootCA is a PEM file of the certificate authorities to trust; the system pool when empty.
	RootCA string `yaml:"rootCA" json:"rootCA,omitempty"`
	// RootCAData is RootCA's content given inline (PEM); it is added to RootCA's.
	RootCAData []byte `yaml:"rootCAData" json:"rootCAData,omitempty"`
	// ServerName overrides the name the server's certificate must carry; the URL's host when empty.
	ServerName string `yaml:"serverName" json:"serverName,omitempty"`
	// BindDN and BindPW are the service account that searches for users. Required.
	BindDN string `yaml:"bindDN" json:"bindDN"`
	BindPW string `yaml:"bindPW" json:"bindPW"`
	// UserSearch finds a record's entry. BaseDN and Filter are required.
	UserSearch UserSearch `yaml:"userSearch" json:"userSearch"`
	// PoolSize bounds the connections of each kind (service-account searches, user binds) and so the concurrent
	// checks; further calls wait for a free connection within their context. Default 4.
	PoolSize int `yaml:"poolSize" json:"poolSize,omitempty"`
	// Timeout bounds dialling and each LDAP operation. Default 5s. The caller's context deadline, when earlier,
	// wins.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// UserSearch is how the entry of a record is found.
type UserSearch struct {
	// BaseDN is where the search starts. Required.
	BaseDN string `yaml:"baseDN" json:"baseDN"`
	// Filter is the search filter template, with {name} and {legacyId} placeholders (see Config). Required.
	Filter string `yaml:"filter" json:"filter"`
	// Scope is "sub" (the whole subtree, default) or "one" (the base's children).
	Scope string `yaml:"scope" json:"scope,omitempty"`
}

// Verifier is the LDAP live check. It implements idshift.Verifier and is safe for concurrent use.
type Verifier struct {
	addr       string // the URL as dialled
	tls        *tls.Config
	startTLS   bool
	bindDN     string
	bindPW     string
	baseDN     string
	filter     string
	scope      int
	timeout    time.Duration
	log        *slog.Logger
	searchPool *pool
	bindPool   *pool
}

// Open validates the configuration and returns the verifier. It dials nothing: connections are made on demand
// and kept for reuse. A missing field is named by its configuration path.
func (c Config) Open(logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.URL == "":
		return nil, errors.New(`ldap: missing required field "url"`)
	case c.BindDN == "":
		return nil, errors.New(`ldap: missing required field "bindDN"`)
	case c.BindPW == "":
		return nil, errors.New(`ldap: missing required field "bindPW"`)
	case c.UserSearch.BaseDN == "":
		return nil, errors.New(`ldap: missing required field "userSearch.baseDN"`)
	case c.UserSearch.Filter == "":
		return nil, errors.New(`ldap: missing required field "userSearch.filter"`)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf(`ldap: field "url": %w`, err)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf(`ldap: field "url": want ldaps://host[:port] or ldap://host[:port], got %q`, c.URL)
	}
	v := &Verifier{addr: c.URL, bindDN: c.BindDN, bindPW: c.BindPW, baseDN: c.UserSearch.BaseDN,
		filter: c.UserSearch.Filter, timeout: c.Timeout, log: logger}
	switch u.Scheme {
	case "ldaps":
		if c.StartTLS {
			return nil, errors.New(`ldap: field "startTLS": not with an ldaps:// URL (already TLS)`)
		}
	case "ldap":
		switch {
		case c.StartTLS:
			v.startTLS = true
		case c.InsecureNoTLS:
			logger.Warn("ldap: insecureNoTLS: passwords are sent in clear text; for tests and labs only", "url", c.URL)
		default:
			return nil, errors.New(`ldap: field "url": ldap:// needs "startTLS: true" (or "insecureNoTLS: true" in a lab)`)
		}
	default:
		return nil, fmt.Errorf(`ldap: field "url": scheme %q: want ldaps or ldap`, u.Scheme)
	}
	if u.Scheme == "ldaps" || v.startTLS {
		v.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
		if v.tls.ServerName == "" {
			v.tls.ServerName = u.Hostname()
		}
		roots, err := verify.RootCAs(c.RootCA, c.RootCAData)
		if err != nil {
			return nil, fmt.Errorf("ldap: %w", err)
		}
		v.tls.RootCAs = roots
	}
	if !strings.Contains(c.UserSearch.Filter, "{name}") && !strings.Contains(c.UserSearch.Filter, "{legacyId}") {
		return nil, errors.New(`ldap: field "userSearch.filter": needs a {name} or {legacyId} placeholder`)
	}
	if _, err := goldap.CompileFilter(expand(c.UserSearch.Filter, []string{"x"}, "x")); err != nil {
		return nil, fmt.Errorf(`ldap: field "userSearch.filter": %w`, err)
	}
	switch c.UserSearch.Scope {
	case "", "sub":
		v.scope = goldap.ScopeWholeSubtree
	case "one":
		v.scope = goldap.ScopeSingleLevel
	default:
		return nil, fmt.Errorf(`ldap: field "userSearch.scope": %q: want sub or one`, c.UserSearch.Scope)
	}
	if v.timeout <= 0 {
		v.timeout = DefaultTimeout
	}
	size := c.PoolSize
	if size <= 0 {
		size = DefaultPoolSize
	}
	v.searchPool = newPool(size)
	v.bindPool = newPool(size)
	return v, nil
}

// Close closes the idle connections; connections in use close when returned, and calls after Close dial
// connections they close after use.
func (v *Verifier) Close() error {
	v.searchPool.close()
	v.bindPool.close()
	return nil
}

// Verify implements idshift.Verifier; see the package documentation for the outcomes.
func (v *Verifier) Verify(ctx context.Context, rec *idshift.Record, password string) (bool, error) {
	if password == "" {
		return false, nil
	}
	if len(rec.SignInNames) == 0 && strings.Contains(v.filter, "{name}") {
		return false, nil // nothing to search for: nobody can sign in with this record
	}
	dn, err := v.find(ctx, rec)
	if err != nil || dn == "" {
		return false, err
	}
	return v.bind(ctx, dn, password)
}

// find returns the DN of the record's single entry, "" when there is none.
func (v *Verifier) find(ctx context.Context, rec *idshift.Record) (string, error) {
	req := goldap.NewSearchRequest(v.baseDN, v.scope, goldap.NeverDerefAliases, 2, int(v.timeout/time.Second), false,
		expand(v.filter, rec.SignInNames, rec.Key.LegacyID), []string{"1.1"}, nil)
	var res *goldap.SearchResult
	err := v.withConn(ctx, v.searchPool, true, func(c *goldap.Conn) error {
		var err error
		res, err = c.Search(req)
		return err
	})
	if err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
			return "", verify.Unavailable(errors.New("ldap: search: the filter matches more than one entry"))
		}
		return "", verify.Unavailable(fmt.Errorf("ldap: search: %w", err))
	}
	switch len(res.Entries) {
	case 0:
		return "", nil
	case 1:
		return res.Entries[0].DN, nil
	default:
		return "", verify.Unavailable(errors.New("ldap: search: the filter matches more than one entry"))
	}
}

// bind binds as dn and classes the answer.
func (v *Verifier) bind(ctx context.Context, dn, password string) (bool, error) {
	var res *goldap.SimpleBindResult
	err := v.withConn(ctx, v.bindPool, false, func(c *goldap.Conn) error {
		var err error
		res, err = c.SimpleBind(&goldap.SimpleBindRequest{Username: dn, Password: password,
			Controls: []goldap.Control{goldap.NewControlBeheraPasswordPolicy()}})
		return err
	})
	var pp *goldap.ControlBeheraPasswordPolicy
	if res != nil {
		if c, ok := goldap.FindControl(res.Controls, goldap.ControlTypeBeheraPasswordPolicy).(*goldap.ControlBeheraPasswordPolicy); ok {
			pp = c
		}
	}
	if pp != nil {
		switch pp.Error {
		case ppAccountLocked:
			return false, fmt.Errorf("ldap: bind %q: %w (password policy)", dn, verify.ErrLocked)
		case ppPasswordExpired, ppChangeAfterReset:
			if err == nil || goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
				return false, fmt.Errorf("ldap: bind %q: %s: %w", dn, pp.ErrorString, verify.ErrMustChange)
			}
		}
	}
	if err == nil {
		return true, nil
	}
	var le *goldap.Error
	if errors.As(err, &le) && le.ResultCode == goldap.LDAPResultInvalidCredentials {
		if e := activeDirectory(le.Err); e != nil {
			return false, fmt.Errorf("ldap: bind %q: %w", dn, e)
		}
		return false, nil
	}
	return false, verify.Unavailable(fmt.Errorf("ldap: bind %q: %w", dn, err))
}

// Password policy response error values (draft-behera-ldap-password-policy-10, section 6.2).
const (
	ppPasswordExpired  = 0
	ppAccountLocked    = 1
	ppChangeAfterReset = 2
)

// activeDirectory reads Active Directory's reason from an invalidCredentials diagnostic message
// ("80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 775, v4563").
func activeDirectory(diag error) error {
	if diag == nil {
		return nil
	}
	msg := diag.Error()
	i := strings.Index(msg, ", data ")
	if i < 0 {
		return nil
	}
	code, _, _ := strings.Cut(msg[i+len(", data "):], ",")
	switch strings.TrimSpace(code) {
	case "775", "533", "701": // locked out, disabled, account expired
		return verify.ErrLocked
	case "532", "773": // password expired, must reset
		return verify.ErrMustChange
	}
	return nil
}

// expand fills the filter template: {name} with the escaped sign-in names (one copy per name inside an OR when
// there are several), {legacyId} with the escaped legacy id.
func expand(tmpl string, names []string, legacyID string) string {
	fill := func(name string) string {
		return strings.ReplaceAll(strings.ReplaceAll(tmpl, "{name}", goldap.EscapeFilter(name)),
			"{legacyId}", goldap.EscapeFilter(legacyID))
	}
	if !strings.Contains(tmpl, "{name}") || len(names) <= 1 {
		name := ""
		if len(names) == 1 {
			name = names[0]
		}
		return fill(name)
	}
	var b strings.Builder
	b.WriteString("(|")
	for _, n := range names {
		b.WriteString(fill(n))
	}
	b.WriteString(")")
	return b.String()
}

// withConn runs op on a pooled connection (bound as the service account when service is set), dialling one when
// none is idle. A reused connection that fails at the network level is replaced once. The context bounds the wait
// for a connection and the operation: when it ends, the connection is closed, which ends the operation.
func (v *Verifier) withConn(ctx context.Context, p *pool, service bool, op func(*goldap.Conn) error) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	for attempt := 0; ; attempt++ {
		c, reused := p.get()
		if c == nil {
			var err error
			if c, err = v.dial(ctx, service); err != nil {
				return err
			}
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err := op(c)
		if !stop() {
			c.Close()
			return fmt.Errorf("ldap: %w", ctx.Err())
		}
		if err != nil && (c.IsClosing() || goldap.IsErrorWithCode(err, goldap.ErrorNetwork)) {
			c.Close()
			if reused && attempt == 0 {
				v.log.Debug("ldap: pooled connection failed, redialling", "err", err)
				continue
			}
			return err
		}
		if service && err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) &&
			!goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			c.Close() // unknown state: do not reuse
			return err
		}
		p.put(c)
		return err
	}
}

// dial connects, upgrades with StartTLS when configured, and binds as the service account for searches.
func (v *Verifier) dial(ctx context.Context, service bool) (*goldap.Conn, error) {
	d := &net.Dialer{Timeout: v.timeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	opts := []goldap.DialOpt{goldap.DialWithDialer(d)}
	if v.tls != nil && !v.startTLS {
		opts = append(opts, goldap.DialWithTLSConfig(v.tls))
	}
	c, err := goldap.DialURL(v.addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("ldap: dial: %w", err)
	}
	c.SetTimeout(v.timeout)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err = func() error {
		if v.startTLS {
			if err := c.StartTLS(v.tls); err != nil {
				return fmt.Errorf("ldap: starttls: %w", err)
			}
		}
		if service {
			if err := c.Bind(v.bindDN, v.bindPW); err != nil {
				return fmt.Errorf("ldap: service account bind %q: %w", v.bindDN, err)
			}
		}
		return nil
	}()
	if !stop() {
		c.Close()
		return nil, fmt.Errorf("ldap: dial: %w", ctx.Err())
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// pool is a bounded set of connections: at most size in use, idle ones kept for reuse.
type pool struct {
	slots  chan struct{}
	mu     sync.Mutex
	idle   []*goldap.Conn
	closed bool
}

func newPool(size int) *pool { return &pool{slots: make(chan struct{}, size)} }

func (p *pool) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ldap: waiting for a connection: %w", ctx.Err())
	}
}

func (p *pool) release() { <-p.slots }

func (p *pool) get() (*goldap.Conn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			return c, true
		}
	}
	return nil, false
}

func (p *pool) put(c *goldap.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || c.IsClosing() {
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

var _ idshift.Verifier = (*Verifier)(nil)

// compileFilter checks a filter's syntax.
func compileFilter(f string) (any, error) { return goldap.CompileFilter(f) }
