package ldap_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/idshift/idshift/verify/ldap"
)

// The example of Config's doc comment decodes strictly into a Config that opens; an unknown key is refused.
func TestConfigExampleDecodesStrictly(t *testing.T) {
	example := `
url: ldaps://ldap.example.com:636
bindDN: cn=idshift,ou=services,dc=example,dc=com
bindPW: "secret"
userSearch:
  baseDN: ou=people,dc=example,dc=com
  filter: "(&(objectClass=inetOrgPerson)(|(uid={name})(mail={name})))"
  scope: sub
poolSize: 4
timeout: 5s
`
	var c ldap.Config
	dec := yaml.NewDecoder(strings.NewReader(example))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if c.Timeout != 5*time.Second || c.UserSearch.Scope != "sub" || c.PoolSize != 4 {
		t.Fatalf("decoded %+v", c)
	}
	if _, err := c.Open(nil); err != nil {
		t.Fatalf("Open: %v", err)
	}
	dec = yaml.NewDecoder(bytes.NewReader([]byte(example + "bindPassword: x\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&ldap.Config{}); err == nil {
		t.Fatal("unknown key accepted")
	}
}
