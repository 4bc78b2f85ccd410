package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

type stateFile struct {
	Version                        int                 `json:"version"`
	TenantID                       string              `json:"tenantId"`
	Users                          []map[string]any    `json:"users"`
	Applications                   []map[string]any    `json:"applications"`
	ExtensionProperties            []*extProp          `json:"extensionProperties"`
	CustomAuthenticationExtensions []map[string]any    `json:"customAuthenticationExtensions"`
	AuthenticationEventListeners   []map[string]any    `json:"authenticationEventListeners"`
	ServicePrincipals              []*servicePrincipal `json:"servicePrincipals,omitempty"`
}

// Save writes the state to Config.StatePath atomically (a temporary file renamed over it). Passwords are not
// saved: users loaded from a state file have none. Save without a StatePath does nothing.
func (t *Tenant) Save() error {
	path := t.cfg.StatePath
	if path == "" {
		return nil
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.dirty.Store(false)
	t.mu.RLock()
	st := stateFile{Version: stateVersion, TenantID: t.cfg.TenantID}
	for _, u := range t.dir.ordered() {
		st.Users = append(st.Users, u.props)
	}
	for _, a := range t.dir.apps {
		st.Applications = append(st.Applications, a.props)
	}
	st.ExtensionProperties = t.dir.extList()
	st.CustomAuthenticationExtensions = t.dir.customExts
	st.AuthenticationEventListeners = t.dir.listeners
	st.ServicePrincipals = t.dir.sps[1:] // Microsoft Graph's is built in
	b, err := marshal(st)
	t.mu.RUnlock()
	if err != nil {
		t.dirty.Store(true)
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	if err := writeAtomic(path, b); err != nil {
		t.dirty.Store(true)
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// load reads the state file at path, if it exists, into the directory.
func (t *Tenant) load(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: load state: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var st stateFile
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("sandbox: load state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("sandbox: load state %s: unsupported version %d", path, st.Version)
	}
	if st.TenantID != "" && st.TenantID != t.cfg.TenantID {
		return fmt.Errorf("sandbox: load state %s: it belongs to tenant %s, not %s", path, st.TenantID, t.cfg.TenantID)
	}
	d := t.dir
	for _, props := range st.Applications {
		id, _ := props["id"].(string)
		if id == "" {
			return fmt.Errorf("sandbox: load state %s: an application has no id", path)
		}
		if a := d.findApp(id); a != nil {
			a.props = props
		} else {
			d.apps = append(d.apps, &application{props: props})
		}
	}
	for _, e := range st.ExtensionProperties {
		if e == nil || e.Name == "" {
			return fmt.Errorf("sandbox: load state %s: an extension property has no name", path)
		}
		d.extByLower[strings.ToLower(e.Name)] = e
	}
	for _, props := range st.Users {
		id, _ := props["id"].(string)
		if id == "" {
			return fmt.Errorf("sandbox: load state %s: a user has no id", path)
		}
		if d.users[strings.ToLower(id)] != nil {
			return fmt.Errorf("sandbox: load state %s: user %s appears twice", path, id)
		}
		d.insert(&user{id: id, props: props})
	}
	d.customExts = st.CustomAuthenticationExtensions
	d.listeners = st.AuthenticationEventListeners
	for _, sp := range st.ServicePrincipals {
		if sp == nil || sp.id() == "" || sp.appID() == "" {
			return fmt.Errorf("sandbox: load state %s: a service principal has no id or appId", path)
		}
		d.sps = append(d.sps, sp)
	}
	return nil
}
