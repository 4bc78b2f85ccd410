package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectKind(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, body, want string }{
		{"a.ldif", "anything", "ldif"},
		{"b.txt", "\n\ndn: uid=a,dc=x\nobjectClass: person\n", "ldif"},
		{"c.json", `{"kind":"identitytoolkit#DownloadAccountResponse","users":[]}`, "firebase"},
		{"d.json", "\ufeff{\n \"realm\" : \"r\",\n \"users\" : [ ] }", "keycloak"},
		{"e.json", `{"id":"1","schema_id":"default","credentials":{}}`, "kratos"},
		{"f.ndjson", `{"user_id": "auth0|1", "email": "a@b.c"}`, "auth0"},
		{"g.csv", "legacy_id,email\n1,a@b.c\n", "file"},
		{"h.json", `[{"legacy_id":"1","email":"a@b.c"}]`, "file"},
		{"i.jsonc", "\ufeff{\n  \"userType\": \"emailAddress\",\n  \"Users\": [\n    { // local\n      \"signInName\": \"a@b.c\"", "b2cfile"},
		{"j.json", `{"users":[{"identities":[{"signInType":"emailAddress","issuerAssignedId":"a@b.c"}]}]}`, "file"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := detectKind(p); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got := detectKind("-"); got != "file" {
		t.Errorf("stdin: %q", got)
	}
}

func TestSourceKindUnknown(t *testing.T) {
	_, err := openSource(sourceSpec{Kind: "okta", Path: "x.csv"})
	if err == nil || !strings.Contains(err.Error(), "--source-kind") || !strings.Contains(err.Error(), "keycloak") {
		t.Fatalf("err %v", err)
	}
}

// TestLintNativeSources runs hashes lint on the readers' own samples, through --source-kind and detection.
func TestLintNativeSources(t *testing.T) {
	root := filepath.Join("..", "..", "source")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--source", filepath.Join(root, "auth0", "testdata", "bulk.json"), "--source-kind", "auth0"}, 0, "users: 2"},
		{[]string{"--source", filepath.Join(root, "auth0", "testdata", "users.ndjson"), "--source-passwords", filepath.Join(root, "auth0", "testdata", "passwords.ndjson")}, 1, "users: 3"},
		{[]string{"--source", filepath.Join(root, "keycloak", "testdata", "realm.json")}, 1, "service-account"},
		{[]string{"--source", filepath.Join(root, "kratos", "testdata", "identities.json"), "--source-kind", "kratos"}, 1, "users: 2"},
		{[]string{"--source", filepath.Join(root, "ldif", "testdata", "people.ldif")}, 1, "users: 4"},
		{[]string{"--source", filepath.Join(root, "b2cfile", "testdata", "UsersData.jsonc")}, 1, "users: 3"},
		{[]string{"--source", filepath.Join(root, "b2cfile", "testdata", "users.json"), "--source-kind", "b2cfile"}, 1, "users: 3"},
		{[]string{"--source", filepath.Join(root, "ldif", "testdata", "people.ldif"), "--source-kind", "nope"}, 1, "unknown"},
		{[]string{"--source", filepath.Join(root, "cognito", "testdata", "list-users.json")}, 1, "line 43: not a Cognito user"},
		{[]string{"--source", filepath.Join(root, "cognito", "testdata", "users.jsonl"), "--source-kind", "cognito"}, 1, "users: 3"},
	}
	for _, c := range cases {
		code, stdout, stderr := run(t, nil, append([]string{"hashes", "lint"}, c.args...)...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("%v: code %d, want %d; output %q %q, want %q", c.args, code, c.code, stdout, stderr, c.want)
		}
	}
}
