package graph

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialConfig says how to obtain Graph tokens, following azidentity's conventions. Credential picks, in
// order: a client secret (ClientSecretCredential), a certificate (ClientCertificateCredential), a federated token
// file (WorkloadIdentityCredential), ManagedIdentity (ManagedIdentityCredential), and otherwise
// DefaultAzureCredential.
//
// Example (YAML):
//
//	tenantId: 5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c
//	clientId: 00000000-0000-0000-0000-00000000a001
//	clientSecret: ${AZURE_CLIENT_SECRET}
//	authorityHost: https://login.microsoftonline.com/
type CredentialConfig struct {
	TenantID            string `json:"tenantId,omitempty" yaml:"tenantId,omitempty"`
	ClientID            string `json:"clientId,omitempty" yaml:"clientId,omitempty"`
	ClientSecret        string `json:"clientSecret,omitempty" yaml:"clientSecret,omitempty"`
	CertificatePath     string `json:"certificatePath,omitempty" yaml:"certificatePath,omitempty"`
	CertificatePassword string `json:"certificatePassword,omitempty" yaml:"certificatePassword,omitempty"`
	// AuthorityHost is the Entra authority (default https://login.microsoftonline.com/). It must be https. For
	// hosts other than Microsoft's public ones (a sandbox, a private cloud), instance discovery is disabled.
	AuthorityHost string `json:"authorityHost,omitempty" yaml:"authorityHost,omitempty"`
	// CAFile is a PEM file of CA certificates trusted in addition to the system's (for the authority and Graph).
	CAFile           string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	ManagedIdentity  bool   `json:"managedIdentity,omitempty" yaml:"managedIdentity,omitempty"`
	WorkloadIdentity bool   `json:"workloadIdentity,omitempty" yaml:"workloadIdentity,omitempty"`
	// FederatedTokenFile is the workload identity token file (implies WorkloadIdentity).
	FederatedTokenFile string `json:"federatedTokenFile,omitempty" yaml:"federatedTokenFile,omitempty"`
}

// String never reveals the secrets.
func (c CredentialConfig) String() string {
	s := fmt.Sprintf("tenant=%s client=%s authority=%s kind=%s", c.TenantID, c.ClientID, c.AuthorityHost, c.Kind())
	return s
}

// GoString never reveals the secrets, even through %#v.
func (c CredentialConfig) GoString() string { return "graph.CredentialConfig{" + c.String() + "}" }

// Kind names the credential Credential will build: "secret", "certificate", "workload", "managed" or "default".
func (c CredentialConfig) Kind() string {
	switch {
	case c.ClientSecret != "":
		return "secret"
	case c.CertificatePath != "":
		return "certificate"
	case c.FederatedTokenFile != "" || c.WorkloadIdentity:
		return "workload"
	case c.ManagedIdentity:
		return "managed"
	}
	return "default"
}

// CredentialConfigFromEnv reads azidentity's environment variables (AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_AUTHORITY_HOST,
// AZURE_FEDERATED_TOKEN_FILE) plus IDSHIFT_CA_FILE and IDSHIFT_MANAGED_IDENTITY (true/1).
func CredentialConfigFromEnv(getenv func(string) string) CredentialConfig {
	mi := strings.ToLower(strings.TrimSpace(getenv("IDSHIFT_MANAGED_IDENTITY")))
	c := CredentialConfig{
		TenantID:            getenv("AZURE_TENANT_ID"),
		ClientID:            getenv("AZURE_CLIENT_ID"),
		ClientSecret:        getenv("AZURE_CLIENT_SECRET"),
		CertificatePath:     getenv("AZURE_CLIENT_CERTIFICATE_PATH"),
		CertificatePassword: getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
		AuthorityHost:       getenv("AZURE_AUTHORITY_HOST"),
		FederatedTokenFile:  getenv("AZURE_FEDERATED_TOKEN_FILE"),
		CAFile:              getenv("IDSHIFT_CA_FILE"),
		ManagedIdentity:     mi == "1" || mi == "true" || mi == "yes",
	}
	c.WorkloadIdentity = c.FederatedTokenFile != ""
	return c
}

// publicAuthorities are Microsoft's authority hosts, for which instance discovery stays on.
var publicAuthorities = []string{
	"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
	"login.partner.microsoftonline.cn", "login.microsoft.com", "login.windows.net", "login.microsoftonline.de",
}

func isPublicAuthority(host string) bool {
	host = strings.ToLower(host)
	for _, h := range publicAuthorities {
		if host == h {
			return true
		}
	}
	return strings.HasSuffix(host, ".ciamlogin.com")
}

// Credential builds the azidentity credential the config describes, with the authority host, instance discovery
// disabled for non-Microsoft hosts, and a transport trusting CAFile. Errors name the field at fault. The
// credential's GetToken errors are *TokenError: one line saying what failed, instead of azidentity's dump.
func (c CredentialConfig) Credential() (azcore.TokenCredential, error) {
	cred, err := c.credential()
	if err != nil {
		return nil, err
	}
	authority := c.AuthorityHost
	if authority == "" {
		authority = cloud.AzurePublic.ActiveDirectoryAuthorityHost
	}
	return &explainingCredential{cred: cred, authority: authority}, nil
}

func (c CredentialConfig) credential() (azcore.TokenCredential, error) {
	hc, err := HTTPClient(c.CAFile)
	if err != nil {
		return nil, err
	}
	opts := azcore.ClientOptions{Transport: hc}
	disableDiscovery := false
	if c.AuthorityHost != "" {
		u, err := url.Parse(c.AuthorityHost)
		switch {
		case err != nil:
			return nil, fmt.Errorf("graph: AuthorityHost: %w", err)
		case u.Scheme != "https":
			return nil, errors.New("graph: AuthorityHost: must be https")
		case u.Host == "":
			return nil, errors.New("graph: AuthorityHost: no host")
		}
		host := strings.TrimRight(c.AuthorityHost, "/") + "/"
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: host}
		disableDiscovery = !isPublicAuthority(u.Hostname())
	} else {
		opts.Cloud = cloud.AzurePublic
	}
	need := func(field, v, kind string) error {
		if v == "" {
			return fmt.Errorf("graph: %s: required with %s", field, kind)
		}
		return nil
	}
	switch c.Kind() {
	case "secret":
		if err := errors.Join(need("TenantID", c.TenantID, "a client secret"), need("ClientID", c.ClientID, "a client secret")); err != nil {
			return nil, err
		}
		cred, err := azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: disableDiscovery})
		if err != nil {
			return nil, fmt.Errorf("graph: client secret credential: %w", err)
		}
		return cred, nil
	case "certificate":
		if err := errors.Join(need("TenantID", c.TenantID, "a certificate"), need("ClientID", c.ClientID, "a certificate")); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(c.CertificatePath)
		if err != nil {
			return nil, fmt.Errorf("graph: CertificatePath: %w", err)
		}
		var pw []byte
		if c.CertificatePassword != "" {
			pw = []byte(c.CertificatePassword)
		}
		certs, key, err := azidentity.ParseCertificates(data, pw)
		if err != nil {
			return nil, fmt.Errorf("graph: CertificatePath: %w", err)
		}
		cred, err := azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: disableDiscovery})
		if err != nil {
			return nil, fmt.Errorf("graph: client certificate credential: %w", err)
		}
		return cred, nil
	case "workload":
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: c.ClientID, TenantID: c.TenantID, TokenFilePath: c.FederatedTokenFile,
			DisableInstanceDiscovery: disableDiscovery})
		if err != nil {
			return nil, fmt.Errorf("graph: workload identity credential: %w", err)
		}
		return cred, nil
	case "managed":
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if c.ClientID != "" {
			mo.ID = azidentity.ClientID(c.ClientID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(mo)
		if err != nil {
			return nil, fmt.Errorf("graph: managed identity credential: %w", err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: opts, TenantID: c.TenantID, DisableInstanceDiscovery: disableDiscovery})
	if err != nil {
		return nil, fmt.Errorf("graph: default credential: %w", err)
	}
	return cred, nil
}

// TokenError is a failure to obtain a token, told in one line: the authority could not be reached, the Graph URL
// is not a resource the authority knows, the authority refused the credential, or something else, with the
// authority's AADSTS code when it answered. It never holds a secret: azidentity's error bodies carry none, and
// only the code and the first sentence of the description are kept.
type TokenError struct {
	// Authority is the authority host asked; Resource is the token's resource (the Graph URL).
	Authority, Resource string
	// Reason is "unreachable", "resource", "refused" or "other".
	Reason string
	// Code is the authority's AADSTS code ("AADSTS7000215"), when it answered with one.
	Code string
	// Detail is the first sentence of the authority's description, or the network error.
	Detail string
	Err    error
}

func (e *TokenError) Error() string {
	switch e.Reason {
	case "unreachable":
		return fmt.Sprintf("cannot reach the authority %s: %s", e.Authority, e.Detail)
	case "resource":
		return fmt.Sprintf("the Graph URL %s does not look like Microsoft Graph: the authority %s knows no such resource (%s: %s)",
			e.Resource, e.Authority, e.Code, e.Detail)
	case "refused":
		return fmt.Sprintf("the authority %s refused the credential (%s: %s)", e.Authority, e.Code, e.Detail)
	}
	if e.Code != "" {
		return fmt.Sprintf("the authority %s refused the token request (%s: %s)", e.Authority, e.Code, e.Detail)
	}
	return fmt.Sprintf("cannot get a token from the authority %s: %s", e.Authority, e.Detail)
}

func (e *TokenError) Unwrap() error { return e.Err }

// explainingCredential turns its credential's errors into *TokenError.
type explainingCredential struct {
	cred      azcore.TokenCredential
	authority string
}

func (c *explainingCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.cred.GetToken(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return tok, err
		}
		resource := ""
		if len(opts.Scopes) > 0 {
			resource = strings.TrimSuffix(opts.Scopes[0], "/.default")
		}
		return tok, explainTokenError(err, c.authority, resource)
	}
	return tok, nil
}

var netErrRE = regexp.MustCompile(`((?:dial tcp|lookup |tls: |x509: |net/http: )[^\n]*?)(?:\. To troubleshoot|\n|$)`)

var aadstsRE = regexp.MustCompile(`(AADSTS\d+): ?(.*?)(?:\s+Trace ID:|\\r|\\n|\r|\n|"|$)`)

// Codes of the authority's answers (Microsoft Entra authentication and authorization error codes,
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
var (
	// resourceCodes say the requested resource (the Graph URL) is unknown.
	resourceCodes = map[string]bool{"AADSTS500011": true, "AADSTS1002012": true, "AADSTS70011": true}
	// refusedCodes say the client's credential was refused: invalid or expired secret, certificate or assertion,
	// unknown application.
	refusedCodes = map[string]bool{"AADSTS7000215": true, "AADSTS7000222": true, "AADSTS7000218": true,
		"AADSTS700016": true, "AADSTS700027": true, "AADSTS700024": true, "AADSTS700021": true, "AADSTS700212": true,
		"AADSTS50027": true}
)

// explainTokenError classifies err, a failed token request to authority for resource.
func explainTokenError(err error, authority, resource string) error {
	te := &TokenError{Authority: authority, Resource: resource, Reason: "other", Err: err}
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &ne), errors.As(err, &ue):
		te.Reason = "unreachable"
		te.Detail = innermost(err)
		var ce *tls.CertificateVerificationError
		var ua x509.UnknownAuthorityError
		if errors.As(err, &ce) || errors.As(err, &ua) {
			te.Detail += " (is its CA certificate given with --ca-file?)"
		}
		return te
	}
	// azidentity keeps only the text of a network error (MSAL does not wrap it): recognise it there.
	if m := netErrRE.FindStringSubmatch(err.Error()); m != nil {
		te.Reason, te.Detail = "unreachable", m[1]
		if strings.Contains(m[1], "x509:") || strings.Contains(m[1], "certificate") {
			te.Detail += " (is its CA certificate given with --ca-file?)"
		}
		return te
	}
	if m := aadstsRE.FindStringSubmatch(err.Error()); m != nil {
		te.Code, te.Detail = m[1], firstSentence(m[2])
		switch {
		case resourceCodes[te.Code]:
			te.Reason = "resource"
		case refusedCodes[te.Code]:
			te.Reason = "refused"
		}
		return te
	}
	// Neither the network nor the authority: keep the first line of the message.
	te.Detail, _, _ = strings.Cut(err.Error(), "\n")
	return te
}

// innermost returns the message of the deepest wrapped error that still says something (dial tcp …: connection
// refused), without the URL and method layers.
func innermost(err error) string {
	msg := err.Error()
	var ne *net.OpError
	if errors.As(err, &ne) {
		msg = ne.Error()
	} else if u := (*url.Error)(nil); errors.As(err, &u) {
		msg = u.Err.Error()
	}
	first, _, _ := strings.Cut(msg, "\n")
	return first
}

func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// HTTPClient returns the client idshift uses for Graph and the authority: HTTP/2, gzip, a keep-alive pool sized
// for many concurrent requests, and the system's roots (SSL_CERT_FILE and SSL_CERT_DIR apply) plus the CA
// certificates of caFile (PEM) when given.
func HTTPClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("graph: CAFile: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("graph: CAFile: no PEM certificate in %s", caFile)
		}
	}
	return NewHTTPClient(pool), nil
}

// NewHTTPClient returns the tuned client trusting exactly roots.
func NewHTTPClient(roots *x509.CertPool) *http.Client {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}
	return &http.Client{Transport: t}
}

var _ azcore.TokenCredential = (*explainingCredential)(nil)
