package jit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idshift/idshift"
)

func FuzzDecodeHarvest(f *testing.F) {
	f.Add("application/json", []byte(`{"signInName":"a@example.com","password":"p","objectId":"o","clientIp":"203.0.113.1"}`))
	f.Add("application/json", []byte(`{"email":" A ","password":1}`))
	f.Add("application/x-www-form-urlencoded", []byte("username=a&password=p%20q"))
	f.Add("application/x-www-form-urlencoded; charset=utf-8", []byte("%zz"))
	f.Add("", []byte(`[]`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		req, err := decodeHarvest(ct, body)
		if err != nil {
			if strings.Contains(err.Error(), string(body)) && len(body) > 8 {
				t.Error("the error quotes the body")
			}
			return
		}
		if req.name != strings.TrimSpace(req.name) {
			t.Errorf("name %q not trimmed", req.name)
		}
	})
}

func TestDecodeHarvest(t *testing.T) {
	tests := []struct {
		ct, body       string
		name, password string
		err            bool
	}{
		{"application/json", `{"signInName":"a","email":"b","password":"p"}`, "a", "p", false},
		{"application/json", `{"signInName":"  ","email":"b","password":"p"}`, "b", "p", false},
		{"application/json; charset=utf-8", `{"username":"c","password":"p"}`, "c", "p", false},
		{"application/x-www-form-urlencoded", "email=d%40example.com&password=x+y", "d@example.com", "x y", false},
		{"application/json", `{"signInName":"a","password":7}`, "a", "", false},
		{"application/json", `not json`, "", "", true},
	}
	for _, tt := range tests {
		req, err := decodeHarvest(tt.ct, []byte(tt.body))
		if (err != nil) != tt.err || req.name != tt.name || req.password != tt.password {
			t.Errorf("decodeHarvest(%q, %q) = %q %q %v", tt.ct, tt.body, req.name, req.password, err)
		}
	}
}

func TestNonceCache(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := newNonceCache(3, time.Minute, clock)
	f1, first := c.begin("a")
	if !first {
		t.Fatal("a: not first")
	}
	if f, first := c.begin("a"); first || f != f1 {
		t.Fatal("a again: a new flight")
	}
	advance(30 * time.Second)
	c.begin("b")
	c.begin("c")
	c.begin("d") // over capacity: a, the oldest, goes
	if c.len() != 3 {
		t.Errorf("len %d, want 3", c.len())
	}
	if _, first := c.begin("a"); !first {
		t.Error("a survived eviction by size")
	}
	advance(61 * time.Second) // b, c, d expire
	if _, first := c.begin("b"); !first {
		t.Error("b survived its TTL")
	}
	if c.len() != 1 { // every older entry expired: only the new b is left
		t.Errorf("len %d after expiry, want 1", c.len())
	}
}

// countingCreds is a CredentialReader over a map whose credentials can change.
type countingCreds struct {
	mu sync.Mutex
	m  map[idshift.Key]idshift.Credential
}

func (c *countingCreds) Credential(_ context.Context, k idshift.Key) (idshift.Credential, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cr, ok := c.m[k]
	if !ok {
		return idshift.Credential{}, idshift.ErrNotFound
	}
	return cr, nil
}

func TestHashCacheBounded(t *testing.T) {
	// Cheap salted digests (no key derivation worth the name), enough of them to overflow the cache.
	creds := &countingCreds{m: map[idshift.Key]idshift.Credential{}}
	const bcrypt4 = "$2a$04$abcdefghijklmnopqrstuu5Fq5DsYQtn0sKyYu5YN1UqV4g0lFZ3q"
	for i := range 10 {
		creds.m[idshift.Key{Source: "s", LegacyID: string(rune('a' + i))}] = idshift.Credential{Kind: idshift.CredentialHash, Hash: bcrypt4}
	}
	v := &HashVerifier{Store: creds, CacheSize: 4, DummyHash: bcrypt4}
	ctx := context.Background()
	for k := range creds.m {
		if _, err := v.Check(ctx, &idshift.Record{Key: k}, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CacheLen(); n != 4 {
		t.Errorf("cache holds %d parsed hashes, want the bound 4", n)
	}
	// A changed credential is parsed again (its digest differs), not served from the cache.
	k := idshift.Key{Source: "s", LegacyID: "a"}
	creds.mu.Lock()
	creds.m[k] = idshift.Credential{Kind: idshift.CredentialHash, Hash: "not a hash"}
	creds.mu.Unlock()
	if _, err := v.Check(ctx, &idshift.Record{Key: k}, "x"); err == nil {
		t.Error("a changed (broken) credential was served from the cache")
	}
}

// TestHashKind: a hash's kind names its algorithm and cost, the same for every salt, never the salt or digest.
func TestHashKind(t *testing.T) {
	for _, tc := range []struct{ a, b, kind string }{
		{"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "$2a$10$abcdefghijklmnopqrstuuIjZAgcfl7p92ldGxad68LJZdL17lhWy", "2a$10"},
		{"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "$argon2id$v=19$m=65536,t=3,p=4$b3RoZXJzYWx0$b3RoZXJoYXNo", "argon2id$v=19$m=65536,t=3,p=4"},
		{"$6$rounds=5000$saltsalt$abcdef", "$6$rounds=5000$pepper$ghijkl", "6$rounds=5000"},
		{"$6$saltsalt$abcdef", "$6$pepperpe$ghijkl", "6"},
		{"$idshift-digest$a=sha256,s=before$c2FsdA$ZGlnZXN0", "$idshift-digest$a=sha256,s=before$b3RoZXI$b3RoZXJk", "idshift-digest$a=sha256,s=before"},
		{"5f4dcc3b5aa765d61d8327deb882cf99", "e10adc3949ba59abbe56e057f20f883e", "len:32"},
	} {
		if got := hashKind(tc.a); got != tc.kind {
			t.Errorf("hashKind(%.12s…) = %q, want %q", tc.a, got, tc.kind)
		}
		if got := hashKind(tc.b); got != tc.kind {
			t.Errorf("hashKind(%.12s…) = %q, want %q (same kind, other salt)", tc.b, got, tc.kind)
		}
	}
	if hashKind("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy") == hashKind("$2a$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy") {
		t.Error("costs 10 and 12 share a kind")
	}
}
