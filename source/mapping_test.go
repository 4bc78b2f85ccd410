package source_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
)

// rec is a record backed by a map.
func rec(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDefaultMapping(t *testing.T) {
	tests := []struct {
		name    string
		record  map[string]string
		want    *idshift.User
		wantErr *idshift.RowError
	}{{
		name: "full row",
		record: map[string]string{
			"legacy_id": " 42 ", "email": " Ada@Example.COM ", "username": "ada1815", "display_name": "Ada Lovelace",
			"given_name": "Ada", "surname": "Lovelace", "phone": "+44 20 7946 0958", "password_hash": "$2b$10$abc",
			"last_sign_in": "2024-03-01T10:00:00+01:00", "created": "2019-05-06", "shoe_size": "38",
		},
		want: &idshift.User{
			LegacyID: "42", Line: 7,
			Identities: []idshift.Identity{
				{SignInType: idshift.SignInEmail, IssuerAssignedID: "ada@example.com"},
				{SignInType: idshift.SignInUserName, IssuerAssignedID: "ada1815"},
			},
			DisplayName: "Ada Lovelace", GivenName: "Ada", Surname: "Lovelace", Mail: "Ada@Example.COM",
			Phone: "+44 20 7946 0958", Created: date("2019-05-06T00:00:00Z"), LastSignIn: date("2024-03-01T09:00:00Z"),
			Credential: idshift.Credential{Kind: idshift.CredentialHash, Hash: "$2b$10$abc"},
		},
	}, {
		name:   "username only, empty cells absent",
		record: map[string]string{"legacy_id": "7", "email": "", "username": "bob", "created": "", "password_hash": ""},
		want: &idshift.User{LegacyID: "7", Line: 7,
			Identities: []idshift.Identity{{SignInType: idshift.SignInUserName, IssuerAssignedID: "bob"}}},
	}, {
		name:   "unix seconds",
		record: map[string]string{"legacy_id": "8", "email": "c@d.io", "created": "1700000000"},
		want: &idshift.User{LegacyID: "8", Line: 7, Mail: "c@d.io", Created: time.Unix(1700000000, 0).UTC(),
			Identities: []idshift.Identity{{SignInType: idshift.SignInEmail, IssuerAssignedID: "c@d.io"}}},
	}, {
		name: "JSON identities array",
		record: map[string]string{"legacy_id": "9", "identities": `[{"signInType":"federated","issuer":"google.com","issuerAssignedId":"1234"},
			{"signInType":"emailAddress","issuerAssignedId":" X@Y.ORG "}]`},
		want: &idshift.User{LegacyID: "9", Line: 7, Identities: []idshift.Identity{
			{SignInType: idshift.SignInFederated, Issuer: "google.com", IssuerAssignedID: "1234"},
			{SignInType: idshift.SignInEmail, IssuerAssignedID: "x@y.org"},
		}},
	}, {
		name:    "missing legacy id",
		record:  map[string]string{"legacy_id": "  ", "email": "a@b.c"},
		wantErr: &idshift.RowError{Line: 7, Field: "legacy_id", Reason: "missing legacy id"},
	}, {
		name:    "no legacy id column",
		record:  map[string]string{"email": "a@b.c"},
		wantErr: &idshift.RowError{Line: 7, Field: "legacy_id", Reason: "missing legacy id"},
	}, {
		name:    "no identity",
		record:  map[string]string{"legacy_id": "3", "display_name": "Nobody"},
		wantErr: &idshift.RowError{Line: 7, LegacyID: "3", Field: "identities", Reason: "no sign-in identity (email, username, identities empty)"},
	}, {
		name:    "bad date",
		record:  map[string]string{"legacy_id": "4", "email": "a@b.c", "created": "31/12/2020"},
		wantErr: &idshift.RowError{Line: 7, LegacyID: "4", Field: "created", Reason: `not a date or time (RFC 3339, 2006-01-02, 2006-01-02 15:04:05 or unix seconds): "31/12/2020"`},
	}, {
		name:    "bad identities JSON",
		record:  map[string]string{"legacy_id": "5", "identities": `[{"signInType":`},
		wantErr: &idshift.RowError{Line: 7, LegacyID: "5", Field: "identities", Reason: "identities[2]: not a JSON array of identities {signInType, issuer, issuerAssignedId}"},
	}}
	m := source.DefaultMapping()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := m.Apply(7, rec(tt.record))
			if tt.wantErr != nil {
				var re *idshift.RowError
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want RowError", err)
				}
				if *re != *tt.wantErr {
					t.Fatalf("err = %#v\nwant  %#v", re, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u, tt.want) {
				t.Fatalf("user = %+v\nwant   %+v", u, tt.want)
			}
		})
	}
}

const fullMapping = `
source: auth0
default_country_code: "+44"
legacy_id: user_id
display_name: name
given_name: {column: first, transform: [trim, upper]}
surname: last
mail: {column: email, transform: [trim, lower]}
other_mails: {column: alt, separator: ","}
phone: {column: tel, transform: [e164]}
created: created_at
last_sign_in: {column: seen}
disabled: {column: active, negate: true}
password: pw
password_hash: hash
privacy_policy: {version: {value: "2023-01"}, date: pp_date}
terms_of_use: {version: tou_v, date: tou_date}
identities:
  - sign_in_type: emailAddress
    column: email
  - sign_in_type: userName
    column: login
    transform: [trim, lower]
  - sign_in_type: federated
    issuer: facebook.com
    column: fb
extensions:
  tier: {column: user_metadata.tier}
  vip: {column: vip, type: boolean}
  points: {column: points, type: integer}
  since: {column: since, type: datetime}
  region: {value: emea}
`

func TestMappingApply(t *testing.T) {
	m, err := source.ParseMapping([]byte(fullMapping))
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		"user_id": "auth0|1", "name": "Zoë Ünal", "first": " zoë ", "last": "Ünal", "email": " Zoe@X.Example ",
		"alt": "a@x.example, b@x.example,", "tel": "020 7946 0958", "created_at": "2021-02-03 04:05:06",
		"seen": "1700000000123", "active": "no", "pw": " s3cret ", "hash": "$2b$10$x", "pp_date": "2023-02-01",
		"tou_v": "", "tou_date": "", "login": " ZoeU ", "fb": "", "user_metadata.tier": "gold", "vip": "yes",
		"points": "-12", "since": "2020-01-01T00:00:00Z",
	}
	want := &idshift.User{
		LegacyID: "auth0|1", Source: "auth0", Line: 3,
		Identities: []idshift.Identity{
			{SignInType: idshift.SignInEmail, IssuerAssignedID: "zoe@x.example"},
			{SignInType: idshift.SignInUserName, IssuerAssignedID: "zoeu"},
		},
		DisplayName: "Zoë Ünal", GivenName: "ZOË", Surname: "Ünal", Mail: "zoe@x.example",
		OtherMails: []string{"a@x.example", "b@x.example"}, Phone: "+442079460958",
		PrivacyPolicy: &idshift.Consent{Version: "2023-01", AcceptedAt: date("2023-02-01T00:00:00Z")},
		Extensions: map[string]any{"tier": "gold", "vip": true, "points": int64(-12),
			"since": date("2020-01-01T00:00:00Z"), "region": "emea"},
		Created:    date("2021-02-03T04:05:06Z"),
		LastSignIn: time.UnixMilli(1700000000123).UTC(),
		Disabled:   true,
		Credential: idshift.Credential{Kind: idshift.CredentialPlaintext, Password: " s3cret "},
	}
	u, err := m.Apply(3, rec(base))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("user = %+v\nwant   %+v", u, want)
	}

	// Row errors name the column.
	bad := []struct {
		column, value, reason string
	}{
		{"points", "1.5", `extensions.points: not a 32-bit integer: "1.5"`},
		{"points", "3000000000", `extensions.points: not a 32-bit integer: "3000000000"`},
		{"since", "yesterday", `extensions.since: not a date or time`},
		{"vip", "maybe", `extensions.vip: not a boolean (true/false, yes/no, 1/0): "maybe"`},
		{"active", "perhaps", `disabled: not a boolean`},
		{"tel", "call me", `phone: not a phone number: "call me"`},
		{"pp_date", "02/01/2023", `privacy_policy.date: not a date or time`},
		{"tou_date", "x", `terms_of_use.date: not a date or time`},
		{"created_at", "0000-99-99", `created: not a date or time`},
		{"alt", "[1,2]", `other_mails: not a JSON array of strings`},
	}
	for _, b := range bad {
		t.Run(b.column+"="+b.value, func(t *testing.T) {
			r := make(map[string]string, len(base))
			for k, v := range base {
				r[k] = v
			}
			r[b.column] = b.value
			_, err := m.Apply(9, rec(r))
			var re *idshift.RowError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want RowError", err)
			}
			if re.Line != 9 || re.LegacyID != "auth0|1" || re.Field != b.column || !strings.HasPrefix(re.Reason, b.reason) {
				t.Fatalf("err = %#v, want field %q reason %q", re, b.column, b.reason)
			}
		})
	}
}

func TestMappingHashWhenNoPassword(t *testing.T) {
	m, err := source.ParseMapping([]byte("legacy_id: id\npassword: pw\npassword_hash: h\nidentities: [{sign_in_type: userName, column: u}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := m.Apply(1, rec(map[string]string{"id": "1", "u": "x", "pw": "", "h": " $argon2id$v=19$x "}))
	if err != nil {
		t.Fatal(err)
	}
	if u.Credential.Kind != idshift.CredentialHash || u.Credential.Hash != "$argon2id$v=19$x" {
		t.Fatalf("credential = %s %q", u.Credential, u.Credential.Hash)
	}
}

func TestParseMappingErrors(t *testing.T) {
	const ids = "identities: [{sign_in_type: emailAddress, column: email}]\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "legacy_id: id\nlegacy_idd: x\n" + ids, `line 2: field legacy_idd not found`},
		{"unknown key in a field", "legacy_id: {column: id, colum: x}\n" + ids, `line 1: field colum not found`},
		{"unknown key in an identity", "legacy_id: id\nidentities:\n  - sign_in_type: userName\n    column: u\n    isuer: x\n", `line 5: field isuer not found`},
		{"unknown key in an extension", "legacy_id: id\n" + ids + "extensions:\n  a: {column: a, typ: integer}\n", `line 4: field typ not found`},
		{"unknown key in a consent", "legacy_id: id\n" + ids + "terms_of_use: {versio: v}\n", `line 3: field versio not found`},
		{"no legacy id", ids, `legacy_id: a column is required`},
		{"no identity", "legacy_id: id\n", `identities: at least one identity is required`},
		{"bad sign-in type", "legacy_id: id\nidentities: [{sign_in_type: mail, column: e}]\n", `identities[0].sign_in_type: unknown "mail"`},
		{"federated without issuer", "legacy_id: id\nidentities: [{sign_in_type: federated, column: g}]\n", `identities[0].issuer: required`},
		{"identity without column", "legacy_id: id\nidentities: [{sign_in_type: userName}]\n", `identities[0].column: a column is required`},
		{"unknown transform", "legacy_id: id\nphone: {column: p, transform: [e165]}\n" + ids, `phone.transform[0]: unknown "e165"`},
		{"split on a scalar", "legacy_id: id\nmail: {column: m, transform: [split]}\n" + ids, `mail.transform[0]: split applies to list fields only`},
		{"separator without split", "legacy_id: id\nother_mails: {column: m, transform: [trim], separator: \",\"}\n" + ids, `other_mails.separator: only with the split transform`},
		{"negate on a string", "legacy_id: id\nsurname: {column: s, negate: true}\n" + ids, `surname.negate: only for boolean fields`},
		{"bad country code", "default_country_code: uk\nlegacy_id: id\n" + ids, `default_country_code: not a country calling code`},
		{"country code without e164", "legacy_id: id\nphone: {column: p, country_code: \"33\"}\n" + ids, `phone.country_code: only with the e164 transform`},
		{"bad extension type", "legacy_id: id\n" + ids + "extensions: {a: {column: a, type: float}}\n", `extensions.a.type: unknown "float"`},
		{"bad extension name", "legacy_id: id\n" + ids + "extensions: {1a: {column: a}}\n", `extensions.1a: a name is a letter`},
		{"extension without column", "legacy_id: id\n" + ids + "extensions: {a: {type: boolean}}\n", `extensions.a: a column or a value is required`},
		{"bad constant", "legacy_id: id\ncreated: {value: soon}\n" + ids, `created.value: not a date or time`},
		{"bad constant extension", "legacy_id: id\n" + ids + "extensions: {n: {value: x, type: integer}}\n", `extensions.n.value: not a 32-bit integer`},
		{"empty document", "", `mapping: empty document`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := source.ParseMapping([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, idshift.ErrInvalid) {
				t.Fatalf("err = %v, want code invalid", err)
			}
		})
	}
}

func TestLoadMapping(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(p, []byte(fullMapping), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := source.LoadMapping(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"active", "alt", "created_at", "email", "fb", "first", "hash", "last", "login", "name",
		"points", "pp_date", "pw", "seen", "since", "tel", "tou_date", "tou_v", "user_id", "user_metadata.tier", "vip"}
	if got := m.Columns(); !reflect.DeepEqual(got, want) {
		t.Fatalf("columns = %q\nwant      %q", got, want)
	}
	if err := m.CheckColumns(want); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckColumns(want[1:]); err == nil || !strings.Contains(err.Error(), `"active"`) {
		t.Fatalf("CheckColumns without active = %v", err)
	}
	if _, err := source.LoadMapping(filepath.Join(dir, "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestDefaultMappingCheckColumns(t *testing.T) {
	m := source.DefaultMapping()
	for _, tt := range []struct {
		header []string
		want   string
	}{
		{[]string{"legacy_id", "email"}, ""},
		{[]string{"legacy_id", "username", "extra"}, ""},
		{[]string{"id", "email"}, `no "legacy_id" column`},
		{[]string{"legacy_id", "display_name"}, "no identity column"},
	} {
		err := m.CheckColumns(tt.header)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckColumns(%q) = %v, want %q", tt.header, err, tt.want)
		}
	}
}

func TestTransforms(t *testing.T) {
	tests := []struct {
		name   string
		field  string // YAML of the phone field
		in     string
		want   string
		reason string
	}{
		{"trim", "{column: v, transform: [trim]}", "  a b  ", "a b", ""},
		{"none", "{column: v, transform: []}", "  a b  ", "  a b  ", ""},
		{"lower", "{column: v, transform: [lower]}", "ÀB", "àb", ""},
		{"upper", "{column: v, transform: [upper]}", "àb", "ÀB", ""},
		{"e164 international", "{column: v, transform: [e164]}", "+1 (415) 555-2671", "+14155552671", ""},
		{"e164 00 prefix", "{column: v, transform: [e164]}", "0049 30 901820", "+4930901820", ""},
		{"e164 (0)", "{column: v, transform: [e164]}", "+44 (0)20 7946 0958", "+442079460958", ""},
		{"e164 national", "{column: v, transform: [e164]}", "020-7946-0958", "+442079460958", ""},
		{"e164 no prefix", "{column: v, transform: [e164], country_code: \"1\"}", "(415) 555.2671", "+14155552671", ""},
		{"e164 letters", "{column: v, transform: [e164]}", "555-CALL", "", "not a phone number"},
		{"e164 too long", "{column: v, transform: [e164]}", "+1234567890123456", "", "not an E.164 phone number"},
		{"e164 too short", "{column: v, transform: [e164]}", "+12345", "", "not an E.164 phone number"},
		{"e164 blank", "{column: v, transform: [e164]}", "   ", "", ""},
		{"constant default", "{column: v, value: \"+15550100\"}", "", "+15550100", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := source.ParseMapping([]byte("default_country_code: \"44\"\nlegacy_id: id\nidentities: [{sign_in_type: userName, column: u}]\nphone: " + tt.field + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			u, err := m.Apply(1, rec(map[string]string{"id": "1", "u": "x", "v": tt.in}))
			if tt.reason != "" {
				var re *idshift.RowError
				if !errors.As(err, &re) || re.Field != "v" || !strings.Contains(re.Reason, tt.reason) {
					t.Fatalf("err = %v, want RowError on v with %q", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Phone != tt.want {
				t.Fatalf("phone = %q, want %q", u.Phone, tt.want)
			}
		})
	}
}

func TestE164NoCountryCode(t *testing.T) {
	if _, err := source.E164("020 7946 0958", ""); err == nil || !strings.Contains(err.Error(), "no default country code") {
		t.Fatalf("err = %v", err)
	}
	if p, err := source.E164("+33 1 23 45 67 89", ""); err != nil || p != "+33123456789" {
		t.Fatalf("E164 = %q, %v", p, err)
	}
}

func TestOtherMails(t *testing.T) {
	tests := []struct {
		field, in string
		want      []string
	}{
		{"alt", "a@x.io; b@x.io ;;", []string{"a@x.io", "b@x.io"}},
		{"alt", `["a@x.io"," b@x.io "]`, []string{"a@x.io", "b@x.io"}},
		{"{column: alt, separator: \"|\", transform: [split, trim, lower]}", "A@x.io | B@x.io", []string{"a@x.io", "b@x.io"}},
		{"{column: alt, transform: [trim]}", "a@x.io;b@x.io", []string{"a@x.io;b@x.io"}},
		{"alt", " ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.field+" "+tt.in, func(t *testing.T) {
			m, err := source.ParseMapping([]byte("legacy_id: id\nidentities: [{sign_in_type: userName, column: u}]\nother_mails: " + tt.field + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			u, err := m.Apply(1, rec(map[string]string{"id": "1", "u": "x", "alt": tt.in}))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u.OtherMails, tt.want) {
				t.Fatalf("other mails = %q, want %q", u.OtherMails, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC, empty for an error
	}{
		{"2024-02-29T12:30:00Z", "2024-02-29T12:30:00Z"},
		{"2024-02-29T12:30:00.123456+02:00", "2024-02-29T10:30:00.123456Z"},
		{"2024-02-29 12:30:00", "2024-02-29T12:30:00Z"},
		{"2024-02-29 12:30:00.5", "2024-02-29T12:30:00.5Z"},
		{"2024-02-29 12:30:00+01:00", "2024-02-29T11:30:00Z"},
		{"2024-02-29T12:30:00", "2024-02-29T12:30:00Z"},
		{"2024-02-29", "2024-02-29T00:00:00Z"},
		{"0", "1970-01-01T00:00:00Z"},
		{"1700000000", "2023-11-14T22:13:20Z"},
		{"1700000000000", "2023-11-14T22:13:20Z"},
		{"-86400", "1969-12-31T00:00:00Z"},
		{"2024-02-29T12:30:00,25Z", "2024-02-29T12:30:00.25Z"},
		{"2024-02-29T12:30:00-0130", "2024-02-29T14:00:00Z"},
		{"2000-02-29", "2000-02-29T00:00:00Z"},
		{"2024-02-29T12:30:00.123456789Z", "2024-02-29T12:30:00.123456789Z"},
		{"2023-02-29", ""},
		{"1900-02-29", ""},
		{"2024-04-31", ""},
		{"2024-13-01", ""},
		{"2024-00-10", ""},
		{"2024-02-2", ""},
		{"2024-02-29X12:00:00", ""},
		{"2024-02-29T12:30:00.Z", ""},
		{"2024-02-29T12:30:00.1234567891Z", ""},
		{"2024-02-29T12:30:60Z", ""},
		{"2024-02-29T12:30:00+24:00", ""},
		{"2024-02-29T12:30:00 UTC", ""},
		{"2024-02-29T12:30", ""},
		{"29/02/2024", ""},
		{"", ""},
		{"-", ""},
		{"99999999999999999999", ""},
		{"2024-02-29T25:00:00Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := source.ParseTime(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseTime(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := got.Format(time.RFC3339Nano); s != tt.want || got.Location() != time.UTC {
				t.Fatalf("ParseTime(%q) = %s (%v), want %s", tt.in, s, got.Location(), tt.want)
			}
		})
	}
}

// TestMappingInCode: a Mapping filled in code is checked on first use.
func TestMappingInCode(t *testing.T) {
	m := &source.Mapping{LegacyID: source.Field{Column: "id"}}
	_, err := m.Apply(1, rec(map[string]string{"id": "1"}))
	var re *idshift.RowError
	if err == nil || errors.As(err, &re) || !errors.Is(err, idshift.ErrInvalid) {
		t.Fatalf("err = %v, want the mapping's invalid error", err)
	}
}

// FuzzParseTime: no panic; a result is in UTC and agrees with time.Parse where that reads RFC 3339.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-02-29T12:30:00Z", "2024-02-29 12:30:00.5+01:00", "2024-02-29", "1700000000", "-1", "2024-02-29T12:30:00-0130"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := source.ParseTime(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) not in UTC", s)
		}
		if want, err := time.Parse(time.RFC3339, s); err == nil && !want.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v, time.Parse = %v", s, got, want)
		}
	})
}

// TestBind: a bound mapping reads by position what Apply reads by name.
func TestBind(t *testing.T) {
	m, err := source.ParseMapping([]byte(fullMapping))
	if err != nil {
		t.Fatal(err)
	}
	header := []string{"vip", "user_id", "email", "name", "points", "email", "login"}
	values := []string{"no", "u1", "A@x.io", "Ann", "7", "second@x.io", "ann"}
	b, err := m.Bind(header)
	if err != nil {
		t.Fatal(err)
	}
	byPos, err := b.Apply(4, values)
	if err != nil {
		t.Fatal(err)
	}
	byName, err := m.Apply(4, rec(map[string]string{"vip": "no", "user_id": "u1", "email": "A@x.io", "name": "Ann", "points": "7", "login": "ann"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(byPos, byName) {
		t.Fatalf("bound %+v\nby name %+v", byPos, byName)
	}
	// Values short of the header read as absent.
	_, err = b.Apply(5, values[:2])
	var re *idshift.RowError
	if !errors.As(err, &re) || re.Field != "identities" || re.Line != 5 {
		t.Fatalf("short record: err = %v", err)
	}
	if _, err := (&source.Mapping{}).Bind(header); !errors.Is(err, idshift.ErrInvalid) {
		t.Fatalf("Bind of an invalid mapping: err = %v", err)
	}
}
