package graph

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
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
// disabled for non-Microsoft hosts, and a transport trusting CAFile. Errors name the field at fault.
func (c CredentialConfig) Credential() (azcore.TokenCredential, error) {
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
