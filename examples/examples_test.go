package examples_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/examples"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/file"
)

// readAll returns the users of a source by line, and its row errors.
func readAll(t *testing.T, c file.Config) (map[int64]*idshift.User, []*idshift.RowError) {
	t.Helper()
	src, err := c.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	users := make(map[int64]*idshift.User)
	var rejects []*idshift.RowError
	for {
		u, err := src.Next(context.Background())
		var re *idshift.RowError
		switch {
		case errors.Is(err, io.EOF):
			return users, rejects
		case errors.As(err, &re):
			rejects = append(rejects, re)
		case err != nil:
			t.Fatal(err)
		default:
			users[u.Line] = u
		}
	}
}

func TestUsersCSV(t *testing.T) {
	users, rejects := readAll(t, file.Config{Path: "users.csv"})
	var got []string
	for _, re := range rejects {
		got = append(got, re.Error())
	}
	want := []string{
		"line 41 (cust-001280): 9 fields, the header has 10",
		"line 111: legacy_id: missing legacy id",
		"line 261: a quote in an unquoted field",
		`line 281 (cust-002960): created: not a date or time (RFC 3339, 2006-01-02, 2006-01-02 15:04:05 or unix seconds): "2023-02-30"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rejects:\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if len(users) != 296 {
		t.Fatalf("%d users, want 296", len(users))
	}
	// The rows the importer's planner is to reject come through the source.
	if users[76] == nil || !strings.Contains(users[76].Mail, " at ") {
		t.Errorf("line 76: %+v, want the invalid email", users[76])
	}
	if users[151].Identities[0] != users[21].Identities[0] {
		t.Errorf("line 151 identity %v, want line 21's %v", users[151].Identities[0], users[21].Identities[0])
	}
	if n := len([]rune(users[191].DisplayName)); n <= 256 {
		t.Errorf("line 191 display name has %d characters, want more than 256", n)
	}
	if u := users[231]; u == nil || len(u.Identities) < 2 || !strings.ContainsAny(u.Identities[1].IssuerAssignedID, " <>!") {
		t.Errorf("line 231: %+v, want a user name with illegal characters", u)
	}
	kinds := map[string]int{}
	for _, u := range users {
		if u.Source != "file" || u.LegacyID == "" || len(u.Identities) == 0 || u.Created.IsZero() {
			t.Fatalf("line %d: incomplete user %+v", u.Line, u)
		}
		kinds[hashKind(u.Credential.Hash)]++
	}
	for _, k := range []string{"", "bcrypt", "argon2id", "scrypt", "pbkdf2-sha256"} {
		if kinds[k] < 10 {
			t.Errorf("%d users with hash kind %q, want at least 10 (%v)", kinds[k], k, kinds)
		}
	}
}

func hashKind(h string) string {
	switch {
	case h == "":
		return ""
	case strings.HasPrefix(h, "$2"):
		return "bcrypt"
	}
	return strings.SplitN(h[1:], "$", 2)[0]
}

// TestPasswords checks the first hash of each format in users.csv against passwords.txt with the reference
// primitives: the example hashes are real.
func TestPasswords(t *testing.T) {
	f, err := examples.FS.Open("passwords.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	passwords := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			id, pw, ok := strings.Cut(line, "\t")
			if !ok {
				t.Fatalf("bad line %q", line)
			}
			passwords[id] = pw
		}
	}
	users, _ := readAll(t, file.Config{Path: "users.csv"})
	checked := map[string]int{}
	for line := int64(2); line < 400; line++ {
		u := users[line]
		if u == nil || u.Credential.Kind != idshift.CredentialHash {
			continue
		}
		kind := hashKind(u.Credential.Hash)
		if checked[kind] >= 1 {
			continue
		}
		pw, ok := passwords[u.LegacyID]
		if !ok {
			t.Fatalf("no password for %s", u.LegacyID)
		}
		if err := verify(u.Credential.Hash, pw); err != nil {
			t.Fatalf("%s (%s): %v", u.LegacyID, kind, err)
		}
		if verify(u.Credential.Hash, pw+"x") == nil {
			t.Fatalf("%s (%s): a wrong password matches", u.LegacyID, kind)
		}
		checked[kind]++
	}
	if len(checked) != 4 {
		t.Fatalf("checked %v, want 4 formats", checked)
	}
}

// verify checks the formats the generator writes.
func verify(hash, pw string) error {
	if strings.HasPrefix(hash, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	}
	parts := strings.Split(hash, "$") // "", kind, [v=19,] params, salt, key
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[len(parts)-2])
	want, err2 := b64.DecodeString(parts[len(parts)-1])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad base64")
	}
	params := map[string]int{}
	for _, kv := range strings.Split(parts[len(parts)-3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		params[k], _ = strconv.Atoi(v)
	}
	var got []byte
	switch parts[1] {
	case "argon2id":
		got = argon2.IDKey([]byte(pw), salt, uint32(params["t"]), uint32(params["m"]), uint8(params["p"]), uint32(len(want)))
	case "scrypt":
		var err error
		if got, err = scrypt.Key([]byte(pw), salt, 1<<params["ln"], params["r"], params["p"], len(want)); err != nil {
			return err
		}
	case "pbkdf2-sha256":
		got = pbkdf2.Key([]byte(pw), salt, params["i"], params["l"], sha256.New)
	default:
		return fmt.Errorf("unknown kind %q", parts[1])
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return errors.New("mismatch")
	}
	return nil
}

func TestUsersJSONL(t *testing.T) {
	users, rejects := readAll(t, file.Config{Path: "users.jsonl"})
	if len(users) != 4 || len(rejects) != 1 || rejects[0].Line != 5 || rejects[0].Field != "legacy_id" {
		t.Fatalf("users %d, rejects %v", len(users), rejects)
	}
	if u := users[2]; u.LegacyID != "2" || u.Created != time.Unix(1546300800, 0).UTC() || u.Credential.Kind != idshift.CredentialNone {
		t.Fatalf("line 2: %+v", u)
	}
	if u := users[3]; len(u.Identities) != 2 || u.Identities[1].Issuer != "google.com" {
		t.Fatalf("line 3: %+v", u)
	}
}

// TestMapping loads the example mapping and reads the Auth0-like export with it.
func TestMapping(t *testing.T) {
	m, err := source.LoadMapping("mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	users, rejects := readAll(t, file.Config{Path: "auth0-export.jsonl", Mapping: m})
	if len(rejects) != 0 || len(users) != 12 {
		t.Fatalf("users %d, rejects %v", len(users), rejects)
	}
	// Every record is checked against its own JSON, field by field.
	raw, err := os.ReadFile("auth0-export.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	hashes, national := 0, 0
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		u := users[int64(i+1)]
		if u == nil || u.Source != "auth0" || !strings.Contains(line, `"user_id":"`+u.LegacyID+`"`) {
			t.Fatalf("line %d: %+v", i+1, u)
		}
		if u.Identities[0].SignInType != idshift.SignInEmail || u.Identities[0].IssuerAssignedID != strings.ToLower(u.Identities[0].IssuerAssignedID) {
			t.Errorf("line %d: identities %v", i+1, u.Identities)
		}
		if u.TermsOfUse == nil || u.TermsOfUse.Version != "2023-07" || u.PrivacyPolicy == nil || u.PrivacyPolicy.Version != "2023-01" {
			t.Errorf("line %d: consents %+v %+v", i+1, u.PrivacyPolicy, u.TermsOfUse)
		}
		ext := u.Extensions
		if _, ok := ext["loginCount"].(int64); !ok || ext["migratedFrom"] != "auth0" || ext["legacyPlan"] != "FREE" {
			t.Errorf("line %d: extensions %v", i+1, ext)
		}
		if _, ok := ext["legacySignup"].(time.Time); !ok {
			t.Errorf("line %d: legacySignup %T", i+1, ext["legacySignup"])
		}
		if u.Phone != "" && !strings.HasPrefix(u.Phone, "+") {
			t.Errorf("line %d: phone %q not E.164", i+1, u.Phone)
		}
		if strings.Contains(line, `"phone_number":"020`) {
			national++
			if !strings.HasPrefix(u.Phone, "+4420") {
				t.Errorf("line %d: national phone became %q", i+1, u.Phone)
			}
		}
		if u.Credential.Kind == idshift.CredentialHash {
			hashes++
			if !strings.HasPrefix(u.Credential.Hash, `{"algorithm":`) {
				t.Errorf("line %d: hash %q, want the custom_password_hash object", i+1, u.Credential.Hash)
			}
		}
		if u.Disabled != strings.Contains(line, `"blocked":true`) {
			t.Errorf("line %d: disabled %v", i+1, u.Disabled)
		}
	}
	if hashes == 0 || national == 0 {
		t.Errorf("hashes %d, national phones %d: the export should have both", hashes, national)
	}
}
