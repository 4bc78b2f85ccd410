package jit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
	"github.com/idshift/idshift/jit"
	"github.com/idshift/idshift/jit/entra"
	"github.com/idshift/idshift/store/sqlite"
)

// The cost of one Entra callout in process (no network), with a salted SHA-256 credential so that the hash is
// negligible: what remains is idshift's own work (token check, JWE decryption, lookup, guard, answer, record).
// bench/serve.sh measures the same against `idshift serve` as a process; this one is for profiles:
//
//	go test -run '^$' -bench 'Callout|RSA' -benchtime 2000x -cpuprofile cpu.out ./jit/
//	go tool pprof -top jit.test cpu.out
//
// BenchmarkRSADecrypt is the baseline: one RSA-2048 OAEP decryption, what a JWE's key unwrap costs.

const benchUsers = 2000

// benchFront is an Entra front over a SQLite store of benchUsers users with salted SHA-256 credentials, logging
// JSON to nowhere as serve logs to standard error.
func benchFront(b *testing.B) (*jit.EntraFront, *entra.Authenticator) {
	b.Helper()
	testKeys(b)
	ctx := context.Background()
	st, err := sqlite.Config{Path: filepath.Join(b.TempDir(), "idshift.db"), Key: bytes.Repeat([]byte{7}, 32)}.Open(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var recs []*idshift.Record
	creds := map[idshift.Key]idshift.Credential{}
	for i := range benchUsers {
		k := idshift.Key{Source: "bench", LegacyID: fmt.Sprint(i)}
		recs = append(recs, &idshift.Record{Key: k, ObjectID: benchObject(i), State: idshift.StateCreated})
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		sum := sha256.Sum256(append(append([]byte{}, salt...), "right-pass"...))
		creds[k] = idshift.Credential{Kind: idshift.CredentialHash, Hash: fmt.Sprintf("$idshift-digest$a=sha256,s=before$%s$%s",
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum[:]))}
	}
	if err := st.PutRecords(ctx, recs); err != nil {
		b.Fatal(err)
	}
	if err := st.PutCredentials(ctx, creds); err != nil {
		b.Fatal(err)
	}
	g, err := guard.Config{}.OpenMemory()
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc, err := jit.Config{Store: st, Guard: g, Verifier: &jit.HashVerifier{Store: st}, Logger: logger,
		Slots: guard.SlotsConfig{}.Open()}.Open()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close(context.Background()) })
	srv := authority(b, &signKey.PublicKey)
	a, err := entra.New(entra.Config{
		Token:   entra.TokenConfig{Authority: srv.URL + "/tenant/v2.0", Audiences: []string{extAppID, extURI}, HTTPClient: srv.Client()},
		Context: entra.ContextConfig{Keys: []*entra.KeyPair{decPair}, Audiences: []string{extAppID}, Issuers: []string{extURI}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Tokens().Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	return &jit.EntraFront{Auth: a, Service: svc, Logger: logger}, a
}

func benchObject(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// benchCallouts prepares n callouts with right passwords of random users, one nonce each, under one bearer token
// (Entra reuses its access token until it expires).
func benchCallouts(b *testing.B, n int) (string, [][]byte) {
	b.Helper()
	tok := bearer(b, signKey, nil)
	bodies := make([][]byte, n)
	now := time.Now()
	for i := range bodies {
		u := i * 7919 % benchUsers
		jwe, err := entra.EncryptContext(&decPair.Key.PublicKey, decPair.X5T, map[string]any{
			"aud": extAppID, "iss": extURI, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
			"user-password": "right-pass", "username": fmt.Sprintf("u%d@example.com", u), "nonce": fmt.Sprintf("nonce-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], _ = json.Marshal(map[string]any{
			"type": entra.EventType, "source": "/tenants/" + tenantID + "/applications/" + extAppID,
			"data": map[string]any{
				"@odata.type": entra.CalloutDataType, "tenantId": tenantID, "encryptedPasswordContext": jwe,
				"authenticationContext": map[string]any{"correlationId": fmt.Sprint("corr-", i),
					"client": map[string]any{"ip": fmt.Sprintf("10.0.%d.%d", i/250%250, 1+i%250)},
					"user":   map[string]any{"id": benchObject(u)}},
			},
		})
	}
	return tok, bodies
}

func benchRequest(tok string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/entra", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// BenchmarkCallout is one whole callout through the front: every answer must be MigratePassword.
func BenchmarkCallout(b *testing.B) {
	front, _ := benchFront(b)
	tok, bodies := benchCallouts(b, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w := httptest.NewRecorder()
		front.ServeHTTP(w, benchRequest(tok, bodies[i]))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "MigratePassword") {
			b.Fatalf("callout %d: %d %s", i, w.Code, w.Body.String())
		}
	}
}

// BenchmarkCalloutAuthenticate is the front's first half alone: bearer token check and JWE decryption.
func BenchmarkCalloutAuthenticate(b *testing.B) {
	_, a := benchFront(b)
	tok, bodies := benchCallouts(b, b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c, err := a.Authenticate(ctx, benchRequest(tok, bodies[i]))
		if err != nil || c.Password.Empty() {
			b.Fatalf("callout %d: %v", i, err)
		}
	}
}

// BenchmarkRSADecrypt is the baseline: one RSA-2048 OAEP (SHA-1) decryption of a 32-byte key.
func BenchmarkRSADecrypt(b *testing.B) {
	testKeys(b)
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, &decPair.Key.PublicKey, make([]byte, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := rsa.DecryptOAEP(sha1.New(), nil, decPair.Key, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}
