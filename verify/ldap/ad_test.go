package ldap

import (
	"errors"
	"testing"

	"github.com/idshift/idshift/verify"
)

// Active Directory sends no password-policy control; its reason is in the diagnostic message. No AD runs here, so
// the mapping is tested on the messages AD documents.
func TestActiveDirectoryDiagnostics(t *testing.T) {
	tests := []struct {
		msg  string
		want error
	}{
		{"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 52e, v4563", nil},
		{"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 775, v4563", verify.ErrLocked},
		{"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 533, v4563", verify.ErrLocked},
		{"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 701, v4563", verify.ErrLocked},
		{"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 532, v4563", verify.ErrMustChange},
		{"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 773, v4563", verify.ErrMustChange},
		{"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 773", verify.ErrMustChange},
		{"invalid credentials", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := activeDirectory(errors.New(tt.msg)); got != tt.want {
			t.Errorf("%q: got %v, want %v", tt.msg, got, tt.want)
		}
	}
	if activeDirectory(nil) != nil {
		t.Error("nil diagnostic")
	}
}

func TestExpand(t *testing.T) {
	tmpl := "(|(uid={name})(mail={name})(employeeNumber={legacyId}))"
	tests := []struct {
		names []string
		id    string
		want  string
	}{
		{[]string{"ada"}, "7", "(|(uid=ada)(mail=ada)(employeeNumber=7))"},
		{nil, "7", "(|(uid=)(mail=)(employeeNumber=7))"},
		{[]string{"a*", "b)("}, "x\\", `(|(|(uid=a\2a)(mail=a\2a)(employeeNumber=x\5c))(|(uid=b\29\28)(mail=b\29\28)(employeeNumber=x\5c)))`},
	}
	for _, tt := range tests {
		if got := expand(tmpl, tt.names, tt.id); got != tt.want {
			t.Errorf("expand(%q, %q) = %q, want %q", tt.names, tt.id, got, tt.want)
		}
	}
}

func FuzzExpand(f *testing.F) {
	f.Add("ada@example.com", "42")
	f.Add("*)(uid=*", `\00`)
	f.Fuzz(func(t *testing.T, name, id string) {
		if _, err := compileFilter(expand("(&(objectClass=person)(|(uid={name})(mail={name}))(x={legacyId}))", []string{name, name + "x"}, id)); err != nil {
			t.Fatalf("escaped input broke the filter: %v", err)
		}
	})
}
