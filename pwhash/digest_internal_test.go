package pwhash

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"strings"
	"testing"
)

// TestDigestSums checks the one-shot digests and HMAC against hash.Hash and crypto/hmac, for every algorithm, with
// keys shorter and longer than the block and messages on both sides of the stack buffers.
func TestDigestSums(t *testing.T) {
	for _, alg := range digestAlgNames {
		for _, kl := range []int{0, 1, 20, 64, 65, 128, 129, 300} {
			for _, ml := range []int{0, 1, 55, 64, 255, 256, 257, 1000} {
				key := bytes.Repeat([]byte{byte(kl)}, kl)
				msg := bytes.Repeat([]byte{byte(ml + 1)}, ml)
				var out [64]byte
				d := digestAlgs[alg]()
				d.Write(msg)
				if got := digestSum(alg, &out, msg); !bytes.Equal(got, d.Sum(nil)) {
					t.Fatalf("%s digest, message %d bytes: differs", alg, ml)
				}
				m := hmac.New(digestAlgs[alg], key)
				m.Write(msg)
				if got := hmacSum(alg, &out, key, msg); !bytes.Equal(got, m.Sum(nil)) {
					t.Fatalf("%s HMAC, key %d bytes, message %d bytes: differs", alg, kl, ml)
				}
			}
		}
	}
}

func TestParams(t *testing.T) {
	p, err := params("a=1,b=,c=x=y")
	if err != nil || p.len() != 3 || p.val("a") != "1" || p.val("c") != "x=y" {
		t.Fatalf("params = %+v, %v", p, err)
	}
	if v, ok := p.get("b"); !ok || v != "" {
		t.Errorf("get(b) = %q, %v", v, ok)
	}
	if _, ok := p.get("d"); ok {
		t.Error("get(d) found")
	}
	if p, err := params(""); err != nil || p.len() != 0 {
		t.Errorf("empty: %v, %v", p.len(), err)
	}
	for _, bad := range []string{"a=1,a=2", "a=1,", ",a=1", "=1", "a", "a=1,,b=2", "a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1"} {
		if _, err := params(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("params(%q) = %v; want ErrMalformed", bad, err)
		}
	}
	var f [3]string
	for s, want := range map[string]int{"": 1, "a": 1, "a$b": 2, "$a$b": 3, "$a$b$": 4, "a$$b$c$d": 4} {
		if got := splitInto(f[:], s, '$'); got != want || (want <= 3 && strings.Join(f[:got], "$") != s) {
			t.Errorf("splitInto(%q) = %d %q; want %d", s, got, f, want)
		}
	}
}
