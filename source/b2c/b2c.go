// Package b2c reads the users of an Azure AD B2C tenant live through Microsoft Graph, with the B2C tenant's own app
// registration (User.Read.All): identities, names, e-mail addresses, accountEnabled and custom attributes. B2C never
// hands out password hashes, so every user comes without a credential: those users migrate by a live check at the
// legacy tenant (import --live-check, and the ROPC verifier at sign-in) or by self-service password reset.
//
// Example configuration (YAML; LoadConfig reads it from the file --source names with --source-kind b2c):
//
//	credentials:                   # the B2C tenant's app registration (graph.CredentialConfig)
//	  tenantId: 11111111-2222-3333-4444-555555555555
//	  clientId: 66666666-7777-8888-9999-000000000000
//	  clientSecret: …              # better: AZURE_CLIENT_SECRET in the environment
//	extensions_app_id: 0f1e2d3c-…  # the B2C tenant's b2c-extensions-app
//	extensions:                    # custom attributes read, by short name, with their type
//	  loyaltyTier: string
//	  newsletter: boolean
//
// Users are listed with $select (id, displayName, givenName, surname, mail, otherMails, mobilePhone, accountEnabled,
// identities and the extension attributes named), page after page through @odata.nextLink, through package graph's
// client and so its pacer, retries and Retry-After handling; one page is held at a time, so memory is flat.
//
// Columns of the mapping (see docs/sources.md): legacy_id (the B2C object id), email (the first emailAddress
// identity), username (the first userName identity), identities (the other local identities and the federated
// ones, with their issuer; local identities lose the B2C tenant's issuer, the target tenant's applies),
// mail, other_mails (";"-separated), display_name, given_name, surname, phone (mobilePhone), disabled
// (accountEnabled false) and extension_{name} for each custom attribute (extension_{appId}_{name} in B2C). A user
// without an identity the target can use is an *idshift.RowError whose Line is the user's place in the listing.
package b2c

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// ColExtensionPrefix starts the column of a custom attribute: extension_{short name}.
const ColExtensionPrefix = "extension_"

// ColOtherMails holds otherMails, ";"-separated.
const ColOtherMails = "other_mails"

// Config configures a B2C source. The zero value with Credentials (or a Client) is usable.
type Config struct {
	// Credentials are the B2C tenant's app registration; ignored when Client is set.
	Credentials graph.CredentialConfig `yaml:"credentials"`
	// GraphURL is Graph's origin (default graph's: $IDSHIFT_GRAPH_URL, else Microsoft Graph).
	GraphURL string `yaml:"graph_url"`
	// Client is a ready Graph client for the B2C tenant (tests, or a caller with its own).
	Client *graph.Client `yaml:"-"`
	// ExtensionsAppID is the appId of the B2C tenant's b2c-extensions-app; required when Extensions is not empty.
	ExtensionsAppID string `yaml:"extensions_app_id"`
	// Extensions are the custom attributes read, short name → type (string, boolean, integer or datetime; empty
	// means string). With the default mapping each becomes the extension of the same short name.
	Extensions map[string]string `yaml:"extensions"`
	// PageSize is $top (default 999, Graph's most).
	PageSize int `yaml:"page_size"`
	// Name is put in User.Source; default the mapping's source, else "b2c".
	Name string `yaml:"name"`
	// Mapping turns the columns into users; nil means the native readers' default plus other_mails and the
	// extensions.
	Mapping *source.Mapping `yaml:"-"`
	Logger  *slog.Logger    `yaml:"-"`
}

// Open checks the configuration and builds the Graph client. Nothing is fetched before the first Next.
func (c Config) Open() (idshift.Source, error) {
	if len(c.Extensions) > 0 && c.ExtensionsAppID == "" {
		return nil, idshift.Invalid("b2c: ExtensionsAppID (extensions_app_id)", "required to read custom attributes")
	}
	m := c.Mapping
	if m == nil {
		var err error
		if m, err = Mapping(c.Name, c.Extensions); err != nil {
			return nil, err
		}
	}
	base, err := reader.NewBase("b2c", c.Name, m)
	if err != nil {
		return nil, err
	}
	client := c.Client
	if client == nil {
		cred, err := c.Credentials.Credential()
		if err != nil {
			return nil, fmt.Errorf("b2c: credentials: %w", err)
		}
		hc, err := graph.HTTPClient(c.Credentials.CAFile)
		if err != nil {
			return nil, fmt.Errorf("b2c: %w", err)
		}
		if client, err = graph.New(graph.Config{BaseURL: c.GraphURL, Credential: cred, HTTPClient: hc, AppID: c.Credentials.ClientID, Logger: c.Logger}); err != nil {
			return nil, fmt.Errorf("b2c: %w", err)
		}
	}
	top := c.PageSize
	if top <= 0 || top > 999 {
		top = 999
	}
	sel := []string{"id", "displayName", "givenName", "surname", "mail", "otherMails", "mobilePhone", "accountEnabled", "identities"}
	ext := make(map[string]string, len(c.Extensions)) // full name → short name
	for short := range c.Extensions {
		full := graph.ExtensionName(c.ExtensionsAppID, short)
		ext[full] = short
		sel = append(sel, full)
	}
	s := &src{Base: base, client: client, opt: graph.ListOptions{Select: sel, Top: top}, ext: ext, rec: reader.Record{}}
	s.Closer = closerFunc(s.stop)
	return s, nil
}

// Mapping is the default mapping of a B2C source: the native readers' (reader.Mapping) plus other_mails and an
// extension per custom attribute (short name → type).
func Mapping(name string, extensions map[string]string) (*source.Mapping, error) {
	d := reader.Mapping(name)
	m := &source.Mapping{
		Source: d.Source, LegacyID: d.LegacyID, DisplayName: d.DisplayName, GivenName: d.GivenName, Surname: d.Surname,
		Mail: d.Mail, Phone: d.Phone, Created: d.Created, LastSignIn: d.LastSignIn, Disabled: d.Disabled,
		Password: d.Password, PasswordHash: d.PasswordHash, Identities: d.Identities,
		OtherMails: source.Field{Column: ColOtherMails},
	}
	if len(extensions) > 0 {
		m.Extensions = make(map[string]source.Extension, len(extensions))
		for short, typ := range extensions {
			m.Extensions[short] = source.Extension{Type: typ, Column: ColExtensionPrefix + short}
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("b2c: extensions: %w", err)
	}
	return m, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// item is one user of the listing, or the error that ended it.
type item struct {
	u   *graph.User
	err error
}

type src struct {
	reader.Base
	client *graph.Client
	opt    graph.ListOptions
	ext    map[string]string

	once   sync.Once
	cancel context.CancelFunc
	items  chan item
	wg     sync.WaitGroup
	n      int64
	done   bool
	rec    reader.Record
}

// start lists the users in a goroutine that hands them over one by one (the listing waits for Next).
func (s *src) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.items = make(chan item)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.items)
		err := s.client.ListUsers(ctx, s.opt, func(u *graph.User) error {
			select {
			case s.items <- item{u: u}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil && ctx.Err() == nil {
			select {
			case s.items <- item{err: err}:
			case <-ctx.Done():
			}
		}
	}()
}

func (s *src) stop() error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	return nil
}

// Next implements idshift.Source. A Graph error (after graph's retries) ends the read.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	if err := s.CheckCtx(ctx); err != nil {
		return nil, err
	}
	if s.done {
		return nil, io.EOF
	}
	s.once.Do(s.start)
	var it item
	var ok bool
	select {
	case it, ok = <-s.items:
	case <-ctx.Done():
		return nil, s.CheckCtx(ctx)
	}
	if !ok {
		s.done = true
		return nil, io.EOF
	}
	if it.err != nil {
		s.done = true
		return nil, fmt.Errorf("b2c: list users: %w", it.err)
	}
	s.n++
	r := s.rec
	r.Reset()
	if err := s.record(s.n, it.u, r); err != nil {
		return nil, err
	}
	return s.User(s.n, r)
}

// record turns a B2C user into the columns.
func (s *src) record(n int64, u *graph.User, r reader.Record) error {
	r[reader.ColLegacyID] = u.ID
	r[reader.ColDisplayName] = u.DisplayName
	r[reader.ColGivenName] = u.GivenName
	r[reader.ColSurname] = u.Surname
	r[reader.ColMail] = u.Mail
	r[reader.ColPhone] = u.MobilePhone
	r[ColOtherMails] = strings.Join(u.OtherMails, ";")
	if u.AccountEnabled != nil {
		r[reader.ColDisabled] = strconv.FormatBool(!*u.AccountEnabled)
	}
	var rest []idshift.Identity
	for _, id := range u.Identities {
		v := strings.TrimSpace(id.IssuerAssignedID)
		if v == "" {
			continue
		}
		switch id.SignInType {
		case idshift.SignInEmail:
			if r[reader.ColEmail] == "" {
				r[reader.ColEmail] = v
				continue
			}
			rest = append(rest, idshift.Identity{SignInType: idshift.SignInEmail, IssuerAssignedID: v})
		case idshift.SignInUserName:
			if r[reader.ColUsername] == "" {
				r[reader.ColUsername] = v
				continue
			}
			rest = append(rest, idshift.Identity{SignInType: idshift.SignInUserName, IssuerAssignedID: v})
		case idshift.SignInFederated:
			rest = append(rest, idshift.Identity{SignInType: idshift.SignInFederated, Issuer: id.Issuer, IssuerAssignedID: v})
		}
		// userPrincipalName identities belong to the B2C tenant; the target gives its own.
	}
	r[reader.ColIdentities] = reader.Identities(rest)
	names := make([]string, 0, len(s.ext))
	for full := range s.ext {
		names = append(names, full)
	}
	sort.Strings(names)
	for _, full := range names {
		v, ok := u.Extensions[full]
		if !ok || v == nil {
			continue
		}
		switch x := v.(type) {
		case string:
			r[ColExtensionPrefix+s.ext[full]] = x
		case bool:
			r[ColExtensionPrefix+s.ext[full]] = strconv.FormatBool(x)
		case int64:
			r[ColExtensionPrefix+s.ext[full]] = strconv.FormatInt(x, 10)
		case float64:
			r[ColExtensionPrefix+s.ext[full]] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return reader.Reject(n, u.ID, s.ext[full], "custom attribute %s is not a string, boolean or number", full)
		}
	}
	return nil
}

var _ idshift.Source = (*src)(nil)

// LoadConfig reads a Config from a YAML file (the example above, without "kind"), strictly: an unknown key is an
// error. The client secret may stay out of the file: IDSHIFT_B2C_CLIENT_SECRET (read through getenv) fills it
// when the file has none.
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("b2c: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, &idshift.Error{Code: idshift.EINVALID, Field: "b2c: " + path, Message: "cannot decode", Err: err}
	}
	if c.Credentials.ClientSecret == "" && getenv != nil {
		c.Credentials.ClientSecret = getenv("IDSHIFT_B2C_CLIENT_SECRET")
	}
	return c, nil
}
