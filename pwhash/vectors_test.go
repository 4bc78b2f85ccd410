package pwhash_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/idshift/idshift/pwhash"
)

// vector is one line of testdata/vectors/*.jsonl: a public test vector with where it came from.
type vector struct {
	Format   string         `json:"format"`
	Hash     string         `json:"hash"`
	Password string         `json:"password"`
	Match    bool           `json:"match"`
	Options  map[string]any `json:"options"`
	Source   string         `json:"source"`
	file     string
	line     int
}

// unsupported lists the vector formats this package knowingly cannot verify, with the error it must give.
var unsupported = map[string]string{}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob("testdata/vectors/*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no vectors in testdata/vectors")
	}
	var out []vector
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n := 0
		for sc.Scan() {
			n++
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var v vector
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s:%d: %v", f, n, err)
			}
			v.file, v.line = filepath.Base(f), n
			out = append(out, v)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func num(m map[string]any, k string) int {
	f, _ := m[k].(float64)
	return int(f)
}

// input turns a vector into the raw string and Options a user of the package would give for it. Vectors of bare
// digests and raw KDF outputs carry their parameters in options; they are written here in the forms Normalize
// reads (Options.Format, the Firebase user record, the PHC/$idshift-scrypt$ strings).
func input(t *testing.T, v vector) (string, pwhash.Options) {
	t.Helper()
	o := v.Options
	opt := pwhash.Options{Encoding: str(o, "encoding")}
	if b, _ := o["scrypt_ln_is_n"].(bool); b {
		opt.ScryptLnIsN = true
	}
	raw := v.Hash
	if fb, ok := o["firebase"].(map[string]any); ok && !strings.HasPrefix(raw, "$") {
		opt.Firebase = &pwhash.FirebaseParams{
			SignerKey: str(fb, "signer_key"), SaltSeparator: str(fb, "salt_separator"),
			Rounds: num(fb, "rounds"), MemCost: num(fb, "mem_cost"),
		}
		b, _ := json.Marshal(map[string]string{"passwordHash": raw, "salt": str(fb, "salt")})
		return string(b), opt
	}
	if p, ok := o["pbkdf2"].(map[string]any); ok {
		salt, err1 := hex.DecodeString(str(p, "salt_hex"))
		key, err2 := hex.DecodeString(raw)
		if err1 != nil || err2 != nil {
			t.Fatalf("vector %s:%d: bad hex", v.file, v.line)
		}
		return fmt.Sprintf("$pbkdf2-%s$i=%d,l=%d$%s$%s", str(p, "prf"), num(p, "iterations"), num(p, "dklen"),
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), opt
	}
	if p, ok := o["scrypt"].(map[string]any); ok {
		key, err := hex.DecodeString(raw)
		if err != nil {
			t.Fatalf("vector %s:%d: bad hex", v.file, v.line)
		}
		return fmt.Sprintf("$idshift-scrypt$ln=%d,r=%d,p=%d,l=%d$%s$%s", bits.TrailingZeros(uint(num(p, "N"))), num(p, "r"), num(p, "p"), num(p, "dklen"),
			base64.RawStdEncoding.EncodeToString([]byte(str(p, "salt"))), base64.RawStdEncoding.EncodeToString(key)), opt
	}
	if d := str(o, "digest"); d != "" && !strings.HasPrefix(raw, "$") {
		opt.Format = d
		opt.Digest.HashEncoding = str(o, "digest_encoding")
		if k := str(o, "key"); k != "" {
			opt.Format = "hmac-" + d
			opt.Digest.Key = k
		}
		if s := str(o, "salt"); s != "" {
			if !strings.HasPrefix(opt.Format, "hmac-") {
				opt.Format = d + "-salted"
			}
			opt.Digest.SaltPosition = str(o, "salt_position")
			raw += ":" + s
		}
		return raw, opt
	}
	if strings.HasPrefix(v.Format, "django-unsalted_") {
		opt.Format = strings.TrimPrefix(v.Format, "django-unsalted_")
	}
	return raw, opt
}

// flipAt changes the character at i to another of the same class (digit, lower, upper, other).
func flipAt(s string, i int) string {
	b := []byte(s)
	c := b[i]
	switch {
	case c >= '0' && c <= '9':
		b[i] = '0' + (c-'0'+1)%10
	case c >= 'a' && c <= 'z':
		b[i] = 'a' + (c-'a'+1)%26
	case c >= 'A' && c <= 'Z':
		b[i] = 'A' + (c-'A'+1)%26
	case c == '.':
		b[i] = '/'
	default:
		b[i] = '.'
	}
	return string(b)
}

// flipDigest flips a character of the digest part: the end of the string, past base64 padding and the last two
// characters (which may carry unused bits).
func flipDigest(s string) string {
	t := strings.TrimRight(s, "=")
	if strings.HasSuffix(t, "\"}") || strings.HasSuffix(t, "\"}}") { // JSON: flip inside the last string value
		t = strings.TrimRight(t, "\"}")
		t = strings.TrimRight(t, "=")
	}
	i := len(t) - 3
	if i < 0 {
		i = 0
	}
	return flipAt(s, i)
}

// flipPassword changes the first character of the password (keeping it in Latin-1 when it was).
func flipPassword(p string) string {
	if p == "" {
		return "x"
	}
	r, n := utf8.DecodeRuneInString(p)
	switch {
	case r == 0xff:
		r = 0xfe
	case r == 'z':
		r = 'y'
	default:
		r++
	}
	return string(r) + p[n:]
}

func TestVectors(t *testing.T) {
	ctx := context.Background()
	vs := loadVectors(t)
	var mu sync.Mutex
	count := map[string]int{}
	for _, v := range vs {
		name := fmt.Sprintf("%s/%s:%d", v.Format, v.file, v.line)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, opt := input(t, v)
			budget := raceEnabled || testing.Short()
			if budget {
				// Past the budget, a non-matching vector ends in ErrOverLimit (still "not a match"), a matching one
				// is skipped below.
				opt.Limits = budgetLimits
			}
			if !v.Match {
				// A non-matching vector may be a wrong password (false, nil) or a broken hash (an error): never true.
				if ok, err := pwhash.Verify(ctx, v.Password, raw, opt); ok {
					t.Fatalf("Verify = true, %v; want no match", err)
				}
				if norm, err := pwhash.Normalize(raw, opt); err == nil {
					if ok, err := pwhash.Verify(ctx, v.Password, norm, opt); ok || err != nil {
						t.Fatalf("Verify(normalised) = %v, %v; want false, nil", ok, err)
					}
				}
				return
			}
			norm, err := pwhash.Normalize(raw, opt)
			if budget && errors.Is(err, pwhash.ErrOverLimit) {
				t.Skipf("costlier than the -race/-short budget (%v); run without -race and -short to check it", err)
			}
			if errors.Is(err, pwhash.ErrOverLimit) {
				// A public vector past the default caps: the cap works; verify it with the caps raised.
				opt.Limits = pwhash.Limits{BcryptCost: 31, ScryptN: 1 << 30, ScryptNR: 1 << 30, PBKDF2Iterations: 1 << 30, ShaCryptRounds: 999_999_999, PhpassLog2: 30}
				norm, err = pwhash.Normalize(raw, opt)
			}
			if why, ok := unsupported[v.Format]; ok || errors.Is(err, pwhash.ErrUnsupported) {
				if !errors.Is(err, pwhash.ErrUnsupported) {
					t.Fatalf("Normalize: want ErrUnsupported (%s), got %v", why, err)
				}
				t.Skipf("unsupported variant (%v); source: %s", err, v.Source)
			}
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			mu.Lock()
			count[v.Format]++
			mu.Unlock()
			if again, err := pwhash.Normalize(norm, opt); err != nil || again != norm {
				t.Fatalf("Normalize is not idempotent (err %v)", err)
			}
			if strings.Contains(norm, v.Password) && len(v.Password) > 3 {
				t.Fatalf("normalised form contains the password")
			}
			ok, err := pwhash.Verify(ctx, v.Password, norm, opt)
			if err != nil || ok != v.Match {
				t.Fatalf("Verify(normalised) = %v, %v; want %v", ok, err, v.Match)
			}
			if raw != norm {
				ok, err = pwhash.Verify(ctx, v.Password, raw, opt)
				if err != nil || ok != v.Match {
					t.Fatalf("Verify(raw) = %v, %v; want %v", ok, err, v.Match)
				}
			}
			if !v.Match {
				return
			}
			flips := []string{flipDigest(norm)}
			if !strings.HasPrefix(raw, "{") && raw != norm {
				flips = append(flips, flipDigest(raw))
			}
			for _, h := range flips {
				if ok, _ := pwhash.Verify(ctx, v.Password, h, opt); ok {
					t.Errorf("a hash with one digest character flipped still matches")
				}
			}
			flipped := flipPassword(v.Password)
			if strings.HasPrefix(norm, "$2x$") {
				// $2x$ collides by design on high bytes; change the last character, which always counts.
				r := []rune(v.Password)
				r[len(r)-1]++
				flipped = string(r)
			}
			if ok, err := pwhash.Verify(ctx, flipped, norm, opt); ok || err != nil {
				t.Errorf("Verify(flipped password) = %v, %v; want false, nil", ok, err)
			}
			// The parsed form reads the raw string to the same hash; its own Verify is checked on the cheap
			// outcome here and on matches in TestParse.
			h, err := pwhash.Parse(raw, opt)
			if err != nil || h.String() != norm {
				t.Fatalf("Parse(raw): err %v, or its String differs from Normalize's", err)
			}
			if ok, err := h.Verify(ctx, flipped); ok || err != nil {
				t.Errorf("Hash.Verify(flipped password) = %v, %v; want false, nil", ok, err)
			}
			for i, bad := range malformedVariants(raw, opt) {
				if _, err := pwhash.Normalize(bad, opt); err == nil {
					t.Errorf("malformed variant %d: Normalize succeeded", i)
				}
				if ok, err := pwhash.Verify(ctx, v.Password, bad, opt); ok || err == nil {
					t.Errorf("malformed variant %d: Verify = %v, %v; want an error", i, ok, err)
				}
			}
		})
	}
	t.Cleanup(func() { reportCounts(t, count) })
}

// budgetLimits keep the vector run short under -race and -short: costlier vectors are skipped there.
var budgetLimits = pwhash.Limits{BcryptCost: 8, ScryptNR: 1 << 15, ArgonMemoryKiB: 32 * 1024, PBKDF2Iterations: 100_000, ShaCryptRounds: 10_000, PhpassLog2: 14}

func reportCounts(t *testing.T, count map[string]int) {
	var fmts []string
	for f := range count {
		fmts = append(fmts, f)
	}
	sort.Strings(fmts)
	for _, f := range fmts {
		if count[f] < 3 {
			t.Logf("format %s: only %d verified vector(s)", f, count[f])
		}
	}
}

// malformedVariants derives strings that must not parse: truncated, with a stray field, with a NUL.
// For bare digests read with Options.Format the salt after the separator is free text: only the digest is cut.
func malformedVariants(raw string, opt pwhash.Options) []string {
	if opt.Format != "" {
		d, salt, _ := strings.Cut(raw, ":")
		if salt != "" {
			salt = ":" + salt
		}
		return []string{d[:len(d)/2] + salt, d + "$x" + salt, d[:len(d)-1] + "\x00" + salt}
	}
	// A third, not a half: formats with a variable key length (PBKDF2 PHC strings, whose l= Kratos treats as
	// advisory) legitimately accept a well-formed shorter key, so the cut must go past the 16-byte minimum.
	return []string{
		raw[:len(raw)/3],
		raw + "$x",
		raw[:len(raw)-1] + "\x00",
	}
}
