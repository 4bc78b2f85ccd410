package file_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/file"
)

// outcomes reads src to the end and describes each result: "3 user 42" for a user from line 3, "4 row [field]
// reason" for a row error, and a final "error ..." for an error that ends the read.
func outcomes(t testing.TB, src idshift.Source) []string {
	t.Helper()
	var out []string
	for i := 0; i < 10000; i++ {
		u, err := src.Next(context.Background())
		var re *idshift.RowError
		switch {
		case errors.Is(err, io.EOF):
			return out
		case errors.As(err, &re):
			s := fmt.Sprintf("%d row", re.Line)
			if re.LegacyID != "" {
				s += " (" + re.LegacyID + ")"
			}
			if re.Field != "" {
				s += " [" + re.Field + "]"
			}
			out = append(out, s+" "+re.Reason)
		case err != nil:
			return append(out, "error "+err.Error())
		default:
			out = append(out, fmt.Sprintf("%d user %s", u.Line, u.LegacyID))
		}
	}
	t.Fatal("source does not end")
	return nil
}

func openString(t testing.TB, format, data string, mod ...func(*file.Config)) idshift.Source {
	t.Helper()
	c := file.Config{Path: "-", Format: format, Stdin: strings.NewReader(data)}
	for _, f := range mod {
		f(&c)
	}
	src, err := c.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

const header = "legacy_id,email,username,display_name\n"

func TestCSV(t *testing.T) {
	tests := []struct {
		name string
		data string
		max  int
		want []string
	}{{
		name: "plain",
		data: header + "1,a@x.io,,Ann\n2,,bob,Bob\n",
		want: []string{"2 user 1", "3 user 2"},
	}, {
		name: "BOM, CRLF, no final newline",
		data: "\ufefflegacy_id,email\r\n1,a@x.io\r\n2,b@x.io",
		want: []string{"2 user 1", "3 user 2"},
	}, {
		name: "blank lines keep physical line numbers",
		data: "\n" + header + "\n\r\n1,a@x.io,,Ann\n\n2,,bob,Bob\n\n",
		want: []string{"5 user 1", "7 user 2"},
	}, {
		name: "quoted fields, doubled quotes, comma and newline inside",
		data: header + `1,a@x.io,,"Ann ""the"" Admin, PhD"` + "\n" + `2,,bob,"Bob` + "\r\n" + `Builder"` + "\n3,c@x.io,,\"\"\n",
		want: []string{"2 user 1", "3 user 2", "5 user 3"},
	}, {
		name: "ragged rows",
		data: header + "1,a@x.io,,Ann,extra\n2,b@x.io\n3,c@x.io,,Cy\n,\n",
		want: []string{"2 row (1) 5 fields, the header has 4", "3 row (2) 2 fields, the header has 4", "4 user 3",
			"5 row 2 fields, the header has 4"},
	}, {
		name: "bare quote",
		data: header + "1,a@x.io,,Ann \"A\" B\n2,b@x.io,,Bo\n",
		want: []string{"2 row a quote in an unquoted field", "3 user 2"},
	}, {
		name: "text after a closing quote",
		data: header + "1,a@x.io,,\"Ann\"x\n2,b@x.io,,Bo\n",
		want: []string{`2 row a quote inside a quoted field must be doubled ("")`, "3 user 2"},
	}, {
		name: "quote left open: the next lines are read again",
		data: header + "1,a@x.io,,\"Ann\n2,b@x.io,,Bo\n3,c@x.io,,Cy\n",
		want: []string{"2 row quoted field not closed", "3 user 2", "4 user 3"},
	}, {
		name: "quote left open then a quote closes it wrongly",
		data: header + "1,a@x.io,,\"Ann\n2,b@x.io,,\"Bo\"\n3,c@x.io,,Cy\n",
		want: []string{`2 row a quote inside a quoted field must be doubled ("")`, "3 user 2", "4 user 3"},
	}, {
		name: "quote left open for more than the line cap",
		data: header + "1,a@x.io,,\"Ann\n" + strings.Repeat("x\n", 150) + "2,b@x.io,,Bo\n",
		want: append(append([]string{"2 row quoted field not closed within 100 lines"},
			repeatRows(3, 150, "row (x) 1 fields, the header has 4")...), "153 user 2"),
	}, {
		name: "invalid UTF-8 names the column",
		data: header + "1,a@x.io,,Ann\xff\n\xfe2,b@x.io,,Bo\n3,c@x.io,,Cy\n",
		want: []string{"2 row (1) [display_name] invalid UTF-8", "3 row [legacy_id] invalid UTF-8", "4 user 3"},
	}, {
		name: "missing legacy id and no identity",
		data: header + " ,a@x.io,,Ann\n2,,,Bo\n",
		want: []string{"2 row [legacy_id] missing legacy id", "3 row (2) [identities] no sign-in identity (email, username, identities empty)"},
	}, {
		name: "line longer than the cap",
		data: header + "1,a@x.io,," + strings.Repeat("A", 200) + "\n2,b@x.io,,Bo\n",
		max:  100,
		want: []string{"2 row line longer than 100 bytes", "3 user 2"},
	}, {
		name: "long line inside an open quote",
		data: header + "1,a@x.io,,\"Ann\n" + strings.Repeat("A", 200) + "\n2,b@x.io,,Bo\n",
		max:  100,
		want: []string{"2 row quoted field not closed", "4 user 2"},
	}, {
		name: "header only",
		data: header,
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := openString(t, "csv", tt.data, func(c *file.Config) { c.MaxRecordBytes = tt.max })
			if got := outcomes(t, src); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func repeatRows(from, n int, what string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d %s", from+i, what)
	}
	return out
}

func TestCSVValues(t *testing.T) {
	data := "legacy_id;email;username;display_name;given_name;surname;phone;password_hash;last_sign_in;created;shoe\n" +
		"u1;Ada@Example.com;ada;\"Ada; Countess\";Ada;Lovelace;+44 20 7946 0958;$2b$10$hash;2024-01-02 03:04:05;1700000000;38\n"
	src := openString(t, "csv", data, func(c *file.Config) { c.Delimiter = ";"; c.Name = "shop" })
	u, err := src.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.Source != "shop" || u.DisplayName != "Ada; Countess" || u.Mail != "Ada@Example.com" ||
		u.Identities[0].IssuerAssignedID != "ada@example.com" || u.Credential.Hash != "$2b$10$hash" ||
		u.LastSignIn.Format("2006-01-02T15:04:05") != "2024-01-02T03:04:05" || u.Created.Unix() != 1700000000 {
		t.Fatalf("user = %+v", u)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"empty", "", "empty file, a header row is required"},
		{"blank", "\n\n", "empty file, a header row is required"},
		{"duplicate", "legacy_id,email,email\n", `column "email" appears twice`},
		{"unnamed", "legacy_id,,email\n", "column 2 has no name"},
		{"no legacy_id", "id,email\n", `no "legacy_id" column`},
		{"no identity column", "legacy_id,display_name\n", "no identity column"},
		{"bad quoting", "legacy_id,\"email\n", "quoted field not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := file.Config{Path: "-", Format: "csv", Stdin: strings.NewReader(tt.data)}.Open()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, idshift.ErrInvalid) {
				t.Fatalf("err = %v, want invalid with %q", err, tt.want)
			}
		})
	}
	// A custom mapping needs every column it names.
	m, err := source.ParseMapping([]byte("legacy_id: id\nidentities: [{sign_in_type: emailAddress, column: mail}]\nphone: tel\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = file.Config{Path: "-", Format: "csv", Mapping: m, Stdin: strings.NewReader("id,mail\n")}.Open()
	if err == nil || !strings.Contains(err.Error(), `no column "tel"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestJSONL(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{{
		name: "records, blank lines, CRLF",
		data: `{"legacy_id":"1","email":"a@x.io"}` + "\r\n\n  \n" + `{"legacy_id":2,"username":"bob"}` + "\n",
		want: []string{"1 user 1", "4 user 2"},
	}, {
		name: "bad JSON and non-objects go on",
		data: `{"legacy_id":"1","email":` + "\n[1,2]\nnull\n\"x\"\n" + `{"legacy_id":"5","email":"e@x.io"}` + "\n",
		want: []string{"1 row invalid JSON: unexpected end of JSON input", "2 row not a JSON object",
			"3 row not a JSON object (null)", "4 row not a JSON object", "5 user 5"},
	}, {
		name: "invalid UTF-8",
		data: "{\"legacy_id\":\"1\",\"email\":\"a\xff@x.io\"}\n",
		want: []string{"1 row invalid UTF-8"},
	}, {
		name: "null is absent",
		data: `{"legacy_id":"1","email":null,"username":null}` + "\n",
		want: []string{"1 row (1) [identities] no sign-in identity (email, username, identities empty)"},
	}, {
		name: "bad date",
		data: `{"legacy_id":"1","email":"a@x.io","created":true}` + "\n",
		want: []string{`1 row (1) [created] not a date or time (RFC 3339, 2006-01-02, 2006-01-02 15:04:05 or unix seconds): "true"`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := openString(t, "jsonl", tt.data)
			if got := outcomes(t, src); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestJSONValues(t *testing.T) {
	m, err := source.ParseMapping([]byte(`
legacy_id: user_id
display_name: name
password_hash: custom_password_hash
disabled: blocked
identities:
  - {sign_in_type: emailAddress, column: email}
  - {column: identities}
extensions:
  tier: user_metadata.tier
  logins: {column: logins_count, type: integer}
  dotted: {column: a.b}
  deep: {column: user_metadata.address.city}
  verified: {column: email_verified, type: boolean}
`))
	if err != nil {
		t.Fatal(err)
	}
	rec := `{"user_id":"auth0|1","name":"Zo\u00eb \"Z\"","email":"Zoe@X.io","blocked":false,"logins_count":12,` +
		`"email_verified":true,"a.b":"flat","user_metadata":{"tier":"gold","address":{"city":"Oslo"}},` +
		`"custom_password_hash":{ "algorithm": "bcrypt", "hash": { "value": "$2b$10$x" } },` +
		`"identities":[{"signInType":"federated","issuer":"google.com","issuerAssignedId":"g1"}]}`
	for _, format := range []string{"jsonl", "json"} {
		t.Run(format, func(t *testing.T) {
			data := rec + "\n"
			if format == "json" {
				data = "[" + rec + "]"
			}
			src := openString(t, format, data, func(c *file.Config) { c.Mapping = m })
			u, err := src.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := &idshift.User{
				LegacyID: "auth0|1", Source: "file", Line: 1, DisplayName: `Zoë "Z"`,
				Identities: []idshift.Identity{
					{SignInType: idshift.SignInEmail, IssuerAssignedID: "zoe@x.io"},
					{SignInType: idshift.SignInFederated, Issuer: "google.com", IssuerAssignedID: "g1"},
				},
				Extensions: map[string]any{"tier": "gold", "logins": int64(12), "dotted": "flat", "deep": "Oslo", "verified": true},
				Credential: idshift.Credential{Kind: idshift.CredentialHash, Hash: `{"algorithm":"bcrypt","hash":{"value":"$2b$10$x"}}`},
			}
			if !reflect.DeepEqual(u, want) {
				t.Fatalf("user = %+v\nwant   %+v", u, want)
			}
			if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
				t.Fatalf("second Next: %v, want EOF", err)
			}
		})
	}
}

func TestJSONArray(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{{
		name: "pretty printed: lines where objects start",
		data: "[\n  {\n    \"legacy_id\": \"1\",\n    \"email\": \"a@x.io\"\n  },\n  {\"legacy_id\": \"2\", \"username\": \"b\"},\n\n  {\n\"legacy_id\": \"3\", \"email\": \"c@x.io\"}\n]\n",
		want: []string{"2 user 1", "6 user 2", "8 user 3"},
	}, {
		name: "compact on one line",
		data: `[{"legacy_id":"1","email":"a@x.io"},{"legacy_id":"2","email":"b@x.io"}]`,
		want: []string{"1 user 1", "1 user 2"},
	}, {
		name: "non-objects and row errors carry the record number",
		data: "[\n1,\n{\"legacy_id\":\"2\"},\n\"x\",\n{\"legacy_id\":\"4\",\"email\":\"d@x.io\"}\n]",
		want: []string{"2 row record 1: not a JSON object",
			"3 row (2) [identities] record 2: no sign-in identity (email, username, identities empty)",
			"4 row record 3: not a JSON object", "5 user 4"},
	}, {
		name: "empty array",
		data: " [ ] ",
		want: nil,
	}, {
		name: "syntax error ends the read with its line",
		data: "[\n{\"legacy_id\":\"1\",\"email\":\"a@x.io\"},\n{\"legacy_id\":\"2\" \"email\":\"b@x.io\"}\n]",
		want: []string{"2 user 1", "error file: -: line 3: invalid JSON: invalid character '\"' after object key:value pair"},
	}, {
		name: "truncated",
		data: "[\n{\"legacy_id\":\"1\",\"email\":\"a@x.io\"},\n{\"legacy_id\":",
		want: []string{"2 user 1", "error file: -: unexpected end of the JSON array: unexpected EOF"},
	}, {
		name: "data after the array",
		data: "[{\"legacy_id\":\"1\",\"email\":\"a@x.io\"}]\n{}",
		want: []string{"1 user 1", "error file: -: line 2: data after the JSON array"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := openString(t, "json", tt.data)
			if got := outcomes(t, src); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
	for _, data := range []string{"", "{\"legacy_id\":\"1\"}", "nope"} {
		_, err := file.Config{Path: "-", Format: "json", Stdin: strings.NewReader(data)}.Open()
		if !errors.Is(err, idshift.ErrInvalid) {
			t.Errorf("Open(%q): err = %v, want invalid", data, err)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	csvPath := write("u.csv", header+"1,a@x.io,,Ann\n")
	tsvPath := write("u.tsv", "legacy_id\temail\n1\ta@x.io\n")
	pipePath := write("pipe.csv", "legacy_id|email\n1|a@x.io\n")
	jsonlPath := write("u.ndjson", `{"legacy_id":"1","email":"a@x.io"}`+"\n")
	jsonPath := write("u.JSON", `[{"legacy_id":"1","email":"a@x.io"}]`)
	for _, p := range []string{csvPath, tsvPath, pipePath, jsonlPath, jsonPath} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			c := file.Config{Path: p}
			if p == pipePath {
				c.Delimiter = "|"
			}
			src, err := c.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			u, err := src.Next(context.Background())
			if err != nil || u.LegacyID != "1" || u.Source != "file" || u.Mail != "a@x.io" {
				t.Fatalf("user = %+v, err = %v", u, err)
			}
		})
	}

	errTests := []struct {
		name string
		c    file.Config
		want string
	}{
		{"no path", file.Config{}, "file: Path: required"},
		{"unknown format", file.Config{Path: csvPath, Format: "xml"}, `file: Format: unknown "xml"; want csv, jsonl or json`},
		{"stdin without format", file.Config{Path: "-"}, `file: Format: cannot tell from "-"`},
		{"unknown extension", file.Config{Path: "users.txt"}, `file: Format: cannot tell from "users.txt"`},
		{"bad comma", file.Config{Path: csvPath, Comma: '"'}, "file: Comma:"},
		{"non-ASCII comma", file.Config{Path: csvPath, Comma: '¦'}, "file: Comma:"},
		{"bad delimiter", file.Config{Path: csvPath, Delimiter: ";;"}, `file: Delimiter: ";;" is not one character or "tab"`},
		{"quote delimiter", file.Config{Path: csvPath, Delimiter: `"`}, "file: Comma:"},
		{"negative max", file.Config{Path: csvPath, MaxRecordBytes: -1}, "file: MaxRecordBytes: negative"},
		{"bad mapping", file.Config{Path: csvPath, Mapping: &source.Mapping{}}, "file: Mapping: legacy_id: a column is required"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.Open()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, idshift.ErrInvalid) {
				t.Fatalf("err = %v, want invalid with %q", err, tt.want)
			}
		})
	}
	if _, err := (file.Config{Path: filepath.Join(dir, "none.csv")}).Open(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestSourceName(t *testing.T) {
	m, err := source.ParseMapping([]byte("source: auth0\nlegacy_id: legacy_id\nidentities: [{sign_in_type: emailAddress, column: email}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		mapping *source.Mapping
		want    string
	}{{"", nil, "file"}, {"", m, "auth0"}, {"shop", m, "shop"}} {
		src := openString(t, "csv", "legacy_id,email\n1,a@x.io\n", func(c *file.Config) { c.Name = tt.name; c.Mapping = tt.mapping })
		u, err := src.Next(context.Background())
		if err != nil || u.Source != tt.want {
			t.Errorf("name %q: source = %q, err %v; want %q", tt.name, u.Source, err, tt.want)
		}
	}
}

func TestCancelled(t *testing.T) {
	for format, data := range map[string]string{"csv": header, "jsonl": "", "json": "["} {
		src := openString(t, format, data)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := src.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", format, err)
		}
	}
}

// errReader fails after its data.
type errReader struct {
	data string
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	for format, data := range map[string]string{
		"csv":   "legacy_id,email\n1,a@x.io\n",
		"jsonl": `{"legacy_id":"1","email":"a@x.io"}` + "\n",
		"json":  `[{"legacy_id":"1","email":"a@x.io"},`,
	} {
		src := openString(t, format, "", func(c *file.Config) { c.Stdin = &errReader{data: data, err: boom} })
		if u, err := src.Next(context.Background()); err != nil || u.LegacyID != "1" {
			t.Fatalf("%s: first Next = %v, %v", format, u, err)
		}
		_, err := src.Next(context.Background())
		var re *idshift.RowError
		if !errors.Is(err, boom) || errors.As(err, &re) {
			t.Errorf("%s: err = %v, want the read error", format, err)
		}
	}
}

// TestLongLines: lines longer than the reader's buffer are read whole up to the cap, and skipped past it.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("é", 40<<10)     // 80 KiB, more than the 64 KiB buffer
	tooLong := strings.Repeat("x", 200<<10) // past the cap
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			var data string
			if format == "csv" {
				data = header + "1,a@x.io,," + long + "\n2,b@x.io,," + tooLong + "\n3,c@x.io,,\"" + tooLong + "\"\n4,d@x.io,,Di"
			} else {
				data = `{"legacy_id":"1","email":"a@x.io","display_name":"` + long + "\"}\n" +
					`{"legacy_id":"2","email":"b@x.io","display_name":"` + tooLong + "\"}\n" +
					"{}\n" + `{"legacy_id":"4","email":"d@x.io"}`
			}
			src := openString(t, format, data, func(c *file.Config) { c.MaxRecordBytes = 100 << 10 })
			u, err := src.Next(context.Background())
			if err != nil || u.DisplayName != long {
				t.Fatalf("first record: err %v", err)
			}
			got := outcomes(t, src)
			first := 2
			if format == "csv" {
				first = 3
			}
			want := []string{fmt.Sprintf("%d row line longer than 102400 bytes", first)}
			if format == "csv" {
				want = append(want, "4 row line longer than 102400 bytes", "5 user 4")
			} else {
				want = append(want, "3 row [legacy_id] missing legacy id", "4 user 4")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %q\nwant %q", got, want)
			}
		})
	}
}

// TestJSONArrayManyLines: line numbers stay right deep into a large pretty-printed array.
func TestJSONArrayManyLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("[\n")
	const n = 3000
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  {\n    \"legacy_id\": \"%d\",\n    \"email\": \"u%d@x.io\"\n  }", i, i)
	}
	b.WriteString("\n]\n")
	src := openString(t, "json", b.String())
	for i := range n {
		u, err := src.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(2 + 4*i); u.Line != want || u.LegacyID != fmt.Sprint(i) {
			t.Fatalf("record %d: line %d, want %d", i, u.Line, want)
		}
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want EOF", err)
	}
}
