package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// runIn runs the program in-process with stdin.
func runIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = Main(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func bcryptOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func jsonLine(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestHashesCheck(t *testing.T) {
	good := bcryptOf(t, "correct horse")
	auth0 := `{"algorithm":"sha256","hash":{"value":"` +
		"8a1c7c4a1d1a4c6b0e0bfa3c1bd4a5f27f7a4b9c5b05a8e3e0a9a7ff1ce4b2d1" + `","encoding":"hex"},"salt":{"value":"s","position":"prefix"}}`
	// The Auth0 object's digest is sha256("s"+"pw") computed below, so that the test does not trust a constant.
	sum := sha256hex("s" + "pw")
	auth0 = strings.Replace(auth0, "8a1c7c4a1d1a4c6b0e0bfa3c1bd4a5f27f7a4b9c5b05a8e3e0a9a7ff1ce4b2d1", sum, 1)

	tests := []struct {
		name  string
		input string
		want  []string
		code  int
	}{
		{
			name: "decided",
			input: jsonLine(t, map[string]string{"hash": good, "password": "correct horse"}) +
				jsonLine(t, map[string]string{"hash": good, "password": "wrong"}) +
				"\n" + // blank lines are skipped
				`{"hash":` + auth0 + `,"password":"pw"}` + "\n" +
				jsonLine(t, map[string]string{"hash": "5f4dcc3b5aa765d61d8327deb882cf99", "password": "password", "format": "md5"}),
			want: []string{`{"match":true}`, `{"match":false}`, `{"match":true}`, `{"match":true}`},
			code: 0,
		},
		{
			name: "errors go on",
			input: "not json\n" +
				jsonLine(t, map[string]string{"hash": "$unknown$abc", "password": "x"}) +
				jsonLine(t, map[string]string{"hash": good}) +
				jsonLine(t, map[string]any{"hash": good, "password": "correct horse", "extra": 1}) +
				jsonLine(t, map[string]string{"hash": good, "password": "correct horse"}),
			want: []string{`{"error":`, `{"error":"pwhash: unknown hash format"}`, `{"error":`, `{"error":`, `{"match":true}`},
			code: 1,
		},
		{
			name:  "over the caps",
			input: jsonLine(t, map[string]string{"hash": "$2b$31$" + strings.Repeat("a", 53), "password": "x"}),
			want:  []string{`{"error":"bcrypt: pwhash: cost over limit: bcrypt cost 31 \u003e 14"}`},
			code:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runIn(t, tt.input, "hashes", "check")
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d lines %q, want %d", len(lines), stdout, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %s, want prefix %s", i+1, lines[i], w)
				}
			}
			for _, secret := range []string{"correct horse", good, sum} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("output holds a secret")
				}
			}
		})
	}
}

// TestHashesCheckOrder runs many lines of mixed cost through the worker pool and checks the output order.
func TestHashesCheckOrder(t *testing.T) {
	good := bcryptOf(t, "pw")
	var in strings.Builder
	var want []string
	for i := range 60 {
		switch i % 3 {
		case 0:
			in.WriteString(jsonLine(t, map[string]string{"hash": good, "password": "pw"}))
			want = append(want, `{"match":true}`)
		case 1:
			in.WriteString(jsonLine(t, map[string]string{"hash": "{SHA}" + "W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password": fmt.Sprint(i)}))
			want = append(want, `{"match":false}`)
		default:
			in.WriteString("{}\n")
			want = append(want, `{"error":"hash and password are required"}`)
		}
	}
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	if err := os.WriteFile(path, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runIn(t, "", "hashes", "check", "-f", path, "--workers", "4")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("output out of order:\n%s", stdout)
	}
}

func TestHashesCheckOptions(t *testing.T) {
	// Kratos's scrypt dialect: ln is N itself. The hash is built here with x/crypto's scrypt primitive.
	kratos := kratosScrypt(t, "pw")
	in := jsonLine(t, map[string]string{"hash": kratos, "password": "pw"})
	// ln=16384 can only be N (as log2 N it is far out of range), so it is read as N even without the flag.
	if code, stdout, _ := runIn(t, in, "hashes", "check"); code != 0 || strings.TrimSpace(stdout) != `{"match":true}` {
		t.Fatalf("without the dialect flag: exit %d, %s", code, stdout)
	}
	if code, stdout, _ := runIn(t, in, "hashes", "check", "--scrypt-ln-is-n"); code != 0 || strings.TrimSpace(stdout) != `{"match":true}` {
		t.Fatalf("with the dialect flag: exit %d, %s", code, stdout)
	}
	// The same per line, and a bare digest's salt position per line.
	perLine := `{"hash":"` + kratos + `","password":"pw","scryptLnIsN":true}` + "\n" +
		`{"hash":"` + fmt.Sprintf("%x", sha256.Sum256([]byte("pwNaCl"))) + `:NaCl","password":"pw","format":"sha256-salted","digest":{"saltPosition":"after"}}` + "\n" +
		`{"hash":"` + fmt.Sprintf("%x", sha256.Sum256([]byte("pwNaCl"))) + `:NaCl","password":"pw","format":"sha256-salted"}` + "\n" +
		`{"hash":"00:NaCl","password":"pw","format":"sha256-salted","digest":{"saltPosition":"middle"}}` + "\n"
	code, stdout, _ := runIn(t, perLine, "hashes", "check")
	want := `{"match":true}` + "\n" + `{"match":true}` + "\n" + `{"match":false}` + "\n" +
		`{"error":"pwhash: Options.Digest.SaltPosition: want before or after, got \"middle\""}` + "\n"
	if code != 1 || stdout != want {
		t.Fatalf("per-line options: exit %d\n%s", code, stdout)
	}
	// A cap lowered by a flag, and one out of range.
	cost5, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	in = jsonLine(t, map[string]string{"hash": string(cost5), "password": "pw"})
	if code, stdout, _ := runIn(t, in, "hashes", "check", "--max-bcrypt-cost", "4"); code != 1 || !strings.Contains(stdout, `bcrypt cost 5 \u003e 4`) {
		t.Fatalf("lowered cap: exit %d, %s", code, stdout)
	}
	if code, _, stderr := runIn(t, in, "hashes", "check", "--max-bcrypt-cost", "3"); code != 2 || !strings.Contains(stderr, "hashes.limits.bcrypt_cost (from --max-bcrypt-cost): want 4 to 31") {
		t.Fatalf("cap out of range: exit %d, %s", code, stderr)
	}
}

func TestHashesLint(t *testing.T) {
	good := bcryptOf(t, "pw")
	csv := "legacy_id,email,password_hash\n" +
		"1,a@x.io," + good + "\n" +
		"2,b@x.io,\n" +
		"3,c@x.io,$2b$31$" + strings.Repeat("a", 53) + "\n" +
		"4,d@x.io,$nope$\n" +
		"5,e@x.io,$2b$10$short\n" +
		"6,f@x.io,{SSHA}0c0blFTXXNuAMHECS4uxrj3ZieMoWImr\n" +
		"7,g@x.io,{CRYPT}$3$$8846f7eaee8fb117ad06bdd830b7586c\n"
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runIn(t, "", "hashes", "lint", "--source", path, "--json")
	if code != 1 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var rep lintReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	check := func(name string, c lintCategory, lines ...int64) {
		t.Helper()
		if c.Count != int64(len(lines)) {
			t.Errorf("%s: count %d, want %d", name, c.Count, len(lines))
		}
		for i, l := range lines {
			if i < len(c.First) && c.First[i].Line != l {
				t.Errorf("%s: line %d, want %d", name, c.First[i].Line, l)
			}
		}
	}
	if rep.Users != 7 || rep.Formats["bcrypt"] != 1 || rep.Formats["ldap"] != 1 {
		t.Errorf("users %d, formats %v", rep.Users, rep.Formats)
	}
	check("noHash", rep.NoHash, 3)
	check("overLimit", rep.OverLimit, 4)
	check("unknown", rep.Unknown, 5)
	check("malformed", rep.Malformed, 6)
	check("unsupported", rep.Unsupported, 8)
	if strings.Contains(stdout, good) || strings.Contains(stdout, "0c0blFTX") {
		t.Error("report holds a hash")
	}

	// Text output, and a clean source exits 0.
	clean := filepath.Join(t.TempDir(), "clean.jsonl")
	if err := os.WriteFile(clean, []byte(`{"legacy_id":"1","email":"a@x.io","password_hash":"`+good+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runIn(t, "", "hashes", "lint", "--source", clean)
	if code != 0 || !strings.Contains(stdout, "bcrypt") || !strings.Contains(stdout, "every hash can be used") {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}
}

func TestHashesUsage(t *testing.T) {
	if code, _, _ := runIn(t, "", "hashes"); code != 2 {
		t.Fatalf("no subcommand: exit %d", code)
	}
	if code, _, _ := runIn(t, "", "hashes", "frob"); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
	if code, _, stderr := runIn(t, "", "hashes", "lint"); code != 2 || !strings.Contains(stderr, "--source") {
		t.Fatalf("lint without --source: exit %d, %s", code, stderr)
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// kratosScrypt builds a hash in Kratos's scrypt dialect ($scrypt$ln=<N>…, padded standard base64).
func kratosScrypt(t *testing.T, pw string) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key, err := scrypt.Key([]byte(pw), salt, 1024, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	return "$scrypt$ln=1024,r=8,p=1$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(key)
}

// TestHashesCheckPublicVectors runs every public vector of pwhash/testdata/vectors that is a hash string (not a raw
// KDF output) through `idshift hashes check`, in one input, as a team would run its own test accounts. The caps are
// lowered so that the run stays short under the race detector: a vector past them must be an "over limit" error,
// every other must get its published answer. pwhash's own tests verify the costly ones.
func TestHashesCheckPublicVectors(t *testing.T) {
	files, err := filepath.Glob("../../pwhash/testdata/vectors/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files: %v", err)
	}
	type vector struct {
		Format   string         `json:"format"`
		Hash     string         `json:"hash"`
		Password string         `json:"password"`
		Match    bool           `json:"match"`
		Options  map[string]any `json:"options"`
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	var in strings.Builder
	var vs []vector
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var v vector
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			o := v.Options
			if o["pbkdf2"] != nil || o["scrypt"] != nil {
				continue // raw derived keys, not hash strings
			}
			line := map[string]any{"hash": v.Hash, "password": v.Password}
			if e := str(o, "encoding"); e != "" {
				line["encoding"] = e
			}
			if b, _ := o["scrypt_ln_is_n"].(bool); b {
				line["scryptLnIsN"] = true
			}
			if fb, ok := o["firebase"].(map[string]any); ok && !strings.HasPrefix(v.Hash, "$") {
				line["hash"] = map[string]string{"passwordHash": v.Hash, "salt": str(fb, "salt")}
				line["firebase"] = map[string]any{"signerKey": fb["signer_key"], "saltSeparator": fb["salt_separator"], "rounds": fb["rounds"], "memCost": fb["mem_cost"]}
			}
			if d := str(o, "digest"); d != "" && !strings.HasPrefix(v.Hash, "$") {
				format, dig := d, map[string]string{"hashEncoding": str(o, "digest_encoding")}
				if k := str(o, "key"); k != "" {
					format, dig["key"] = "hmac-"+d, k
				}
				if s := str(o, "salt"); s != "" {
					if k := str(o, "key"); k == "" {
						format = d + "-salted"
					}
					dig["saltPosition"] = str(o, "salt_position")
					line["hash"] = v.Hash + ":" + s
				}
				line["format"], line["digest"] = format, dig
			}
			if f, ok := strings.CutPrefix(v.Format, "django-unsalted_"); ok {
				line["format"] = f
			}
			b, _ := json.Marshal(line)
			in.Write(append(b, '\n'))
			vs = append(vs, v)
		}
	}
	code, stdout, stderr := runIn(t, in.String(), "hashes", "check", "--max-bcrypt-cost", "8", "--max-scrypt-nr", "32768",
		"--max-argon-memory", "32768", "--max-pbkdf2-iterations", "100000", "--max-sha-crypt-rounds", "10000", "--max-phpass-log2", "14")
	if code == 2 {
		t.Fatalf("exit 2: %s", stderr)
	}
	out := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(out) != len(vs) {
		t.Fatalf("%d output lines for %d vectors", len(out), len(vs))
	}
	decided := 0
	for i, v := range vs {
		switch {
		case strings.Contains(out[i], "over limit"):
			if v.Match {
				continue
			}
		case v.Match && out[i] != `{"match":true}`:
			t.Errorf("%s %.40q…: %s; want a match", v.Format, v.Hash, out[i])
		case !v.Match && out[i] == `{"match":true}`:
			t.Errorf("%s %.40q…: a published rejection matched", v.Format, v.Hash)
		}
		decided++
	}
	t.Logf("%d public vectors through hashes check, %d decided under the lowered caps", len(vs), decided)
	if decided < len(vs)*3/4 {
		t.Errorf("only %d of %d vectors decided: the lowered caps skip too many", decided, len(vs))
	}
}
