// Command serve is the load generator of `idshift serve` (bench/serve.sh runs it; figures in BENCHMARKS.md).
//
// It starts the given idshift binary as its own process (`idshift serve`, plain HTTP on loopback as behind a
// TLS-terminating proxy) over a SQLite state store it fills first, with RSA-2048 keys throughout: an external
// authority of its own (discovery and JWKS over TLS, RS256 signing key) and the extension's encryption key. It
// builds every callout as Entra does (bearer token with azp 99045fe1-…, JWE RSA-OAEP + A128CBC-HS256 + DEF + x5t
// from entra.EncryptContext, the live capture's body) and sends them open-loop: request i leaves at start + i/rate
// whatever the answers do, and its latency counts from that instant (a late sender is the generator's delay and is
// printed apart). Callouts are built before each phase, so the generator does not compete for the CPU while it
// measures; bearer tokens come from a pool signed in advance, as Entra reuses its access tokens until they expire.
//
// Phases, each of a fixed length (the run stops by itself, loopback only):
//
//   - rsa: one RSA-2048 OAEP decryption, in this process: the baseline of the cheap-hash ratio.
//   - cheap: right passwords of users with a salted SHA-256 credential at each of -cheap-rates: p50/p99 latency and
//     serve's CPU per call, against the RSA baseline.
//   - raw: pwhash.Verify of a bcrypt-10 hash by GOMAXPROCS goroutines in this process (serve idle): verifications/s.
//   - bcrypt: right passwords of bcrypt-10 users at each multiple of the raw rate in -bcrypt-loads: answers by
//     action and reason (from serve's /metrics), completed verifications/s against the raw rate re-measured just
//     before and after (and per CPU second of serve against per CPU second of the raw loop, which the other users
//     of a shared machine disturb less), latency maximum against the budget (seen by the client and by serve's
//     own histogram), non-200s and client timeouts, serve's RSS and peak RSS.
//   - timing: wrong passwords of known users and passwords of unknown users, interleaved at random at one rate,
//     with cheap and with bcrypt-10 credentials: p50/p99 of each and their ratio.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/bcrypt"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/jit/entra"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/store/sqlite"
)

const (
	tenantID = "5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c"
	appID    = "00000000-0000-0000-0000-00000000e001"
	appURI   = "api://127.0.0.1/" + appID
	issuer   = "https://" + tenantID + ".ciamlogin.com/" + tenantID + "/v2.0"
	source   = "bench"
	// rightPassword is every user's legacy password; wrong answers use wrongPassword.
	rightPassword = "Legacy-pass-1!"
	wrongPassword = "Legacy-pass-2!"
)

type options struct {
	idshift      string
	dir          string
	cheapUsers   int
	bcryptUsers  int
	cheapRates   []float64
	bcryptLoads  []float64
	phase        time.Duration
	timingRate   float64
	timingBcrypt float64 // fraction of the raw bcrypt rate
	timeout      time.Duration
	phases       map[string]bool
	serveArgs    []string
}

func main() {
	log.SetFlags(0)
	var o options
	var rates, loads, phases string
	flag.StringVar(&o.idshift, "idshift", "", "idshift binary to run as `idshift serve` (required)")
	flag.StringVar(&o.dir, "dir", "", "scratch directory (state store, keys, serve's log); a temporary one when empty")
	flag.IntVar(&o.cheapUsers, "cheap-users", 20000, "users with a salted SHA-256 credential")
	flag.IntVar(&o.bcryptUsers, "bcrypt-users", 2000, "users with a bcrypt-10 credential")
	flag.StringVar(&rates, "cheap-rates", "50,100,200", "request rates (per second) of the cheap-hash phase")
	flag.StringVar(&loads, "bcrypt-loads", "1.5,3", "offered bcrypt-10 loads, as multiples of the raw pwhash rate")
	flag.DurationVar(&o.phase, "phase", 10*time.Second, "length of each measured phase")
	flag.Float64Var(&o.timingRate, "timing-rate", 100, "request rate of the cheap known/unknown timing phase")
	flag.Float64Var(&o.timingBcrypt, "timing-bcrypt-load", 0.5, "rate of the bcrypt-10 timing phase, as a multiple of the raw rate")
	flag.DurationVar(&o.timeout, "timeout", time.Second, "the extension's timeoutInMilliseconds (serve --timeout)")
	flag.StringVar(&phases, "phases", "rsa,cheap,raw,bcrypt,timing", "phases to run, comma-separated")
	serveArgs := flag.String("serve-args", "", "extra arguments of `idshift serve`, space-separated (e.g. --max-verifications 1)")
	flag.Parse()
	if o.idshift == "" {
		log.Fatal("usage: serve -idshift PATH [flags]")
	}
	var err error
	if o.cheapRates, err = floats(rates); err != nil {
		log.Fatalf("-cheap-rates: %v", err)
	}
	if o.bcryptLoads, err = floats(loads); err != nil {
		log.Fatalf("-bcrypt-loads: %v", err)
	}
	o.serveArgs = strings.Fields(*serveArgs)
	o.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		o.phases[strings.TrimSpace(p)] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hard stop whatever happens
	defer cancel()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("%q: want positive numbers", s)
		}
		out = append(out, f)
	}
	return out, nil
}

// bench is one run: the authority, the keys, the serve process and the HTTP client.
type bench struct {
	o        options
	signKey  *rsa.PrivateKey
	enc      *entra.KeyPair
	tokens   []string
	cmd      *exec.Cmd
	public   string // http://host:port/entra
	admin    string // http://host:port
	client   *http.Client
	bcryptPW string // the bcrypt-10 hash every bcrypt user has
}

func run(ctx context.Context, o options) error {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "idshift-bench-serve-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	b := &bench{o: o}
	fmt.Printf("GOMAXPROCS %d, load average at start %s\n", runtime.GOMAXPROCS(0), loadavg())

	var err error
	if b.signKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return err
	}
	encKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "JitMigrationBench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &encKey.PublicKey, encKey)
	if err != nil {
		return err
	}
	cert, _ := x509.ParseCertificate(certDER)
	if b.enc, err = entra.NewKeyPair(encKey, cert); err != nil {
		return err
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(encKey)
	if err := writePEM(filepath.Join(o.dir, "enc.crt"), "CERTIFICATE", certDER); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(o.dir, "enc.key"), "PRIVATE KEY", keyDER); err != nil {
		return err
	}

	// The external authority: discovery and JWKS over TLS, as the tenant's ciamlogin.com authority serves them.
	var auth *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": auth.URL + "/t/discovery/v2.0/keys"})
	})
	mux.HandleFunc("GET /t/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &b.signKey.PublicKey, KeyID: "bench", Use: "sig", Algorithm: "RS256"}}})
	})
	auth = httptest.NewTLSServer(mux)
	defer auth.Close()
	if err := writePEM(filepath.Join(o.dir, "authority-ca.pem"), "CERTIFICATE", auth.Certificate().Raw); err != nil {
		return err
	}
	for range 32 {
		tok, err := b.token()
		if err != nil {
			return err
		}
		b.tokens = append(b.tokens, tok)
	}

	storeKey := make([]byte, 32)
	_, _ = rand.Read(storeKey)
	t0 := time.Now()
	if err := b.fill(ctx, storeKey); err != nil {
		return err
	}
	fmt.Printf("state store: %d salted-SHA-256 users + %d bcrypt-10 users (credentials sealed) in %.1fs\n",
		o.cheapUsers, o.bcryptUsers, time.Since(t0).Seconds())

	if err := b.start(ctx, auth.URL+"/t/v2.0", storeKey); err != nil {
		return err
	}
	defer b.stop()

	// Warm-up: JWKS fetched, connections open, SQLite pages read; not reported.
	if _, err := b.phaseRun(ctx, 50, 2*time.Second, b.cheapRight); err != nil {
		return err
	}

	var rsaNs float64
	if o.phases["rsa"] || o.phases["cheap"] {
		rsaNs = rsaBaseline(encKey)
		fmt.Printf("\nbaseline: one RSA-2048 OAEP decryption (go-jose's, SHA-1) %.3f ms (median of 400, this process)\n", rsaNs/1e6)
	}
	if o.phases["cheap"] {
		if err := b.cheapPhase(ctx, rsaNs); err != nil {
			return err
		}
	}
	var raw float64
	if o.phases["raw"] || o.phases["bcrypt"] || o.phases["timing"] {
		raw = rawBcrypt(ctx, b.bcryptPW, 3*time.Second)
		fmt.Printf("\nraw pwhash.Verify bcrypt-10, %d goroutines (this process, serve idle): %.1f verifications/s\n",
			runtime.GOMAXPROCS(0), raw)
	}
	if o.phases["bcrypt"] {
		if err := b.bcryptPhase(ctx, raw); err != nil {
			return err
		}
	}
	if o.phases["timing"] {
		if err := b.timingPhase(ctx, raw); err != nil {
			return err
		}
	}
	fmt.Printf("\nload average at end %s; serve peak RSS %.1f MiB\n", loadavg(), b.peakRSS())
	return nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func (b *bench) token() (string, error) {
	now := time.Now()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: b.signKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "bench"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(s).Claims(map[string]any{
		"iss": issuer, "aud": appID, "azp": entra.AuthenticationEventsAppID, "tid": tenantID,
		"sub": "c5a2f0de-0000-0000-0000-000000000001", "ver": "2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).Serialize()
}

func objectID(kind byte, i int) string {
	return fmt.Sprintf("00000000-0000-4000-80%02x-%012d", kind, i)
}

// fill creates the state store: cheap users c<i> with a salted SHA-256 each (its own salt), bcrypt users b<i>
// sharing one bcrypt-10 hash (the cost is what matters; each user still has its own record and cache entry).
func (b *bench) fill(ctx context.Context, key []byte) error {
	st, err := sqlite.Config{Path: filepath.Join(b.o.dir, "state.db"), Key: key}.Open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	h, err := bcrypt.GenerateFromPassword([]byte(rightPassword), 10)
	if err != nil {
		return err
	}
	b.bcryptPW = string(h)
	raw := base64.RawStdEncoding
	add := func(kind byte, n int, cred func(i int) string) error {
		for lo := 0; lo < n; lo += 500 {
			hi := min(lo+500, n)
			var recs []*idshift.Record
			creds := map[idshift.Key]idshift.Credential{}
			for i := lo; i < hi; i++ {
				k := idshift.Key{Source: source, LegacyID: fmt.Sprintf("%c%d", kind, i)}
				recs = append(recs, &idshift.Record{Key: k, ObjectID: objectID(kind, i), State: idshift.StateCreated,
					SignInNames: []string{fmt.Sprintf("%c%d@example.com", kind, i)}})
				creds[k] = idshift.Credential{Kind: idshift.CredentialHash, Hash: cred(i)}
			}
			if err := st.PutRecords(ctx, recs); err != nil {
				return err
			}
			if err := st.PutCredentials(ctx, creds); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add('c', b.o.cheapUsers, func(int) string {
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		sum := sha256.Sum256(append(append([]byte{}, salt...), rightPassword...))
		return fmt.Sprintf("$idshift-digest$a=sha256,s=before$%s$%s", raw.EncodeToString(salt), raw.EncodeToString(sum[:]))
	}); err != nil {
		return err
	}
	return add('b', b.o.bcryptUsers, func(int) string { return b.bcryptPW })
}

// start runs `idshift serve` and waits until /readyz answers 200.
func (b *bench) start(ctx context.Context, authority string, storeKey []byte) error {
	d := b.o.dir
	logf, err := os.Create(filepath.Join(d, "serve.log"))
	if err != nil {
		return err
	}
	b.cmd = exec.Command(b.o.idshift, "serve", "--store", filepath.Join(d, "state.db"),
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--insecure-http-behind-proxy",
		"--authority", authority, "--audiences", appID+","+appURI,
		"--decryption-certs", filepath.Join(d, "enc.crt"), "--decryption-keys", filepath.Join(d, "enc.key"),
		"--context-audiences", appID, "--context-issuers", appURI,
		"--entra-ca-file", filepath.Join(d, "authority-ca.pem"), "--timeout", b.o.timeout.String())
	b.cmd.Args = append(b.cmd.Args, b.o.serveArgs...)
	b.cmd.Env = append(os.Environ(), "IDSHIFT_STORE_KEY="+base64.StdEncoding.EncodeToString(storeKey))
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	if err := b.cmd.Start(); err != nil {
		return err
	}
	var serving struct{ Public, Admin string }
	deadline := time.Now().Add(30 * time.Second)
	for serving.Public == "" {
		if time.Now().After(deadline) {
			return errors.New("serve did not start; see its log in " + filepath.Join(d, "serve.log"))
		}
		time.Sleep(50 * time.Millisecond)
		f, _ := os.Open(logf.Name())
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"serving"`) {
				_ = json.Unmarshal(sc.Bytes(), &serving)
			}
		}
		f.Close()
	}
	b.public, b.admin = "http://"+serving.Public+"/entra", "http://"+serving.Admin
	b.client = &http.Client{Timeout: 2 * b.o.timeout, Transport: &http.Transport{
		MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}}
	for time.Now().Before(deadline) {
		resp, err := b.client.Get(b.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				fmt.Printf("serve pid %d ready (budget per call: timeout %s minus the default margin; extra arguments %q)\n",
					b.cmd.Process.Pid, b.o.timeout, b.o.serveArgs)
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("serve never ready; see " + filepath.Join(d, "serve.log"))
}

// stop sends serve SIGTERM and waits for it (SIGKILL after 15 s).
func (b *bench) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
}

// procStatus reads a kB field of serve's /proc/PID/status, in MiB.
func (b *bench) procStatus(field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

func (b *bench) peakRSS() float64 { return b.procStatus("VmHWM") }

// cpu is serve's user+system CPU time so far.
func (b *bench) cpu() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// metrics reads serve's idshift_attempts_total{front="entra",…} counters, keyed "action/reason".
func (b *bench) metrics() map[string]float64 {
	out := map[string]float64{}
	resp, err := b.client.Get(b.admin + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, `idshift_decision_seconds_bucket{front="entra",`) {
			le := l[strings.Index(l, "le=")+4 : strings.IndexByte(l, '}')-1]
			out["decisions le "+le], _ = strconv.ParseFloat(strings.Fields(l)[1], 64)
			continue
		}
		if !strings.HasPrefix(l, "idshift_attempts_total{") {
			if strings.HasPrefix(l, "idshift_shed_total ") {
				out["shed_total"], _ = strconv.ParseFloat(strings.Fields(l)[1], 64)
			}
			continue
		}
		labels := l[strings.IndexByte(l, '{')+1 : strings.IndexByte(l, '}')]
		var action, reason string
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "action":
				action = v
			case "reason":
				reason = v
			}
		}
		n, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
		out[action+"/"+reason] += n
	}
	return out
}

// request is one prepared callout.
type request struct {
	body  []byte
	token string
	kind  string // what the generator asked: "right", "wrong", "unknown"
}

// callout builds a callout for the user with this object id, as Entra sends it.
func (b *bench) callout(i int, oid, username, password, kind string) (request, error) {
	now := time.Now()
	nonce := fmt.Sprintf("%x", sha1.Sum([]byte(fmt.Sprint(i, oid, now.UnixNano(), mrand.Int64()))))
	jwe, err := entra.EncryptContext(&b.enc.Key.PublicKey, b.enc.X5T, map[string]any{
		"aud": appID, "iss": appURI, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"user-password": password, "username": username, "nonce": nonce,
	})
	if err != nil {
		return request{}, err
	}
	ip := fmt.Sprintf("10.%d.%d.%d", mrand.IntN(256), mrand.IntN(256), 1+mrand.IntN(254)) // the guard's IP scope stays clear
	body, err := json.Marshal(map[string]any{
		"type":   entra.EventType,
		"source": "/tenants/" + tenantID + "/applications/" + appID,
		"data": map[string]any{
			"@odata.type":                     entra.CalloutDataType,
			"tenantId":                        tenantID,
			"authenticationEventListenerId":   "0a1b2c3d-0000-0000-0000-00000000l001",
			"customAuthenticationExtensionId": "0a1b2c3d-0000-0000-0000-00000000x001",
			"encryptedPasswordContext":        jwe,
			"userSignUpInfo":                  nil,
			"otpContext":                      nil,
			"authenticationContext": map[string]any{
				"correlationId": fmt.Sprintf("f1e2d3c4-0000-0000-0000-%012d", i),
				"client":        map[string]any{"ip": ip, "locale": "en-us", "market": "en-us"},
				"protocol":      "OAUTH2.0",
				"clientServicePrincipal": map[string]any{
					"id": "sp-1", "appId": "00000000-0000-0000-0000-00000000c11e", "appDisplayName": "web", "displayName": "web"},
				"resourceServicePrincipal": nil,
				"user": map[string]any{"id": oid, "userPrincipalName": username, "userType": "Member",
					"createdDateTime": "2026-01-02T03:04:05Z", "displayName": "Bench User", "mail": username},
			},
		},
	})
	if err != nil {
		return request{}, err
	}
	return request{body: body, token: b.tokens[i%len(b.tokens)], kind: kind}, nil
}

// Request makers: the i-th request of a phase.
func (b *bench) cheapRight(i int) (request, error) {
	u := mrand.IntN(b.o.cheapUsers)
	return b.callout(i, objectID('c', u), fmt.Sprintf("c%d@example.com", u), rightPassword, "right")
}

func (b *bench) bcryptRight(i int) (request, error) {
	u := mrand.IntN(b.o.bcryptUsers)
	return b.callout(i, objectID('b', u), fmt.Sprintf("b%d@example.com", u), rightPassword, "right")
}

// knownOrUnknown interleaves, at random, a wrong password of a known user of the given kind (each user at most a
// few times: the guard's per-account limits stay clear) and an unknown user.
func (b *bench) knownOrUnknown(kind byte, users int) func(i int) (request, error) {
	var next atomic.Int64
	return func(i int) (request, error) {
		if mrand.IntN(2) == 0 {
			u := int(next.Add(1)) % users
			return b.callout(i, objectID(kind, u), fmt.Sprintf("%c%d@example.com", kind, u), wrongPassword, "wrong")
		}
		u := mrand.IntN(1 << 30)
		return b.callout(i, objectID('u', u), fmt.Sprintf("nobody%d@example.com", u), wrongPassword, "unknown")
	}
}

// result is one answer.
type result struct {
	kind    string
	status  int // 0: no answer (client timeout or transport error)
	action  string
	latency time.Duration // from the scheduled instant to the answer
	service time.Duration // from the send to the answer
	lag     time.Duration // send - scheduled
}

type phaseResult struct {
	results []result
	elapsed time.Duration // first scheduled instant to last answer
	cpu     time.Duration // serve's CPU over the phase
	metrics map[string]float64
	rss     float64 // serve's VmRSS at the end, MiB
	peakRSS float64
	window  time.Duration
}

// phaseRun sends rate×d prepared requests open-loop and waits for every answer (bounded by the client timeout).
func (b *bench) phaseRun(ctx context.Context, rate float64, d time.Duration, mk func(i int) (request, error)) (*phaseResult, error) {
	n := int(rate * d.Seconds())
	reqs := make([]request, n)
	for i := range reqs {
		r, err := mk(i)
		if err != nil {
			return nil, err
		}
		reqs[i] = r
	}
	runtime.GC()
	m0, c0 := b.metrics(), b.cpu()
	res := make([]result, n)
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	interval := time.Duration(float64(time.Second) / rate)
	for i := range reqs {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			res[i] = b.send(ctx, reqs[i], at)
		}(i, at)
	}
	wg.Wait()
	pr := &phaseResult{results: res, elapsed: time.Since(start), window: d}
	pr.cpu = b.cpu() - c0
	m1 := b.metrics()
	pr.metrics = map[string]float64{}
	for k, v := range m1 {
		if dv := v - m0[k]; dv != 0 {
			pr.metrics[k] = dv
		}
	}
	pr.rss, pr.peakRSS = b.procStatus("VmRSS"), b.peakRSS()
	return pr, nil
}

func (b *bench) send(ctx context.Context, r request, at time.Time) result {
	out := result{kind: r.kind}
	sent := time.Now()
	out.lag = sent.Sub(at)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.public, bytes.NewReader(r.body))
	if err != nil {
		return out
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		out.latency, out.service = time.Since(at), time.Since(sent)
		return out
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	out.latency, out.service = time.Since(at), time.Since(sent)
	out.status = resp.StatusCode
	var v struct {
		Data struct {
			Actions []struct {
				Type string `json:"@odata.type"`
			} `json:"actions"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &v) == nil && len(v.Data.Actions) == 1 {
		t := v.Data.Actions[0].Type
		out.action = t[strings.LastIndexByte(t, '.')+1:]
	}
	return out
}

func quantiles(ds []time.Duration) (p50, p99, max time.Duration) {
	if len(ds) == 0 {
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return q(0.50), q(0.99), s[len(s)-1]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func pick(rs []result, kind string, f func(result) time.Duration) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		if (kind == "" || r.kind == kind) && r.status != 0 {
			out = append(out, f(r))
		}
	}
	return out
}

func lat(r result) time.Duration     { return r.latency }
func service(r result) time.Duration { return r.service }
func lag(r result) time.Duration     { return r.lag }

// rsaBaseline times one RSA-2048 OAEP decryption (SHA-1, as RSA-OAEP in JWE), median of 400.
func rsaBaseline(k *rsa.PrivateKey) float64 {
	ct, _ := rsa.EncryptOAEP(sha1.New(), rand.Reader, &k.PublicKey, make([]byte, 32), nil)
	ts := make([]time.Duration, 400)
	for i := range ts {
		t := time.Now()
		if _, err := rsa.DecryptOAEP(sha1.New(), nil, k, ct, nil); err != nil {
			panic(err)
		}
		ts[i] = time.Since(t)
	}
	p50, _, _ := quantiles(ts)
	return float64(p50)
}

// rawBcrypt runs pwhash.Verify of hash with GOMAXPROCS goroutines for d: verifications/s.
func rawBcrypt(ctx context.Context, hash string, d time.Duration) float64 {
	r, _ := rawBcryptCPU(ctx, hash, d)
	return r
}

// rawBcryptCPU is rawBcrypt, with the verifications per second of this process's CPU time.
func rawBcryptCPU(ctx context.Context, hash string, d time.Duration) (perSecond, perCPUSecond float64) {
	c0 := selfCPU()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				ok, err := pwhash.Verify(ctx, rightPassword, hash, pwhash.Options{})
				if err != nil || !ok {
					panic("raw bcrypt verification failed")
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), float64(n.Load()) / (selfCPU() - c0).Seconds()
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (b *bench) cheapPhase(ctx context.Context, rsaNs float64) error {
	fmt.Printf("\ncheap hash (salted SHA-256), right passwords, %s per rate; latency from the scheduled send\n", b.o.phase)
	fmt.Printf("%-7s %-6s %-9s %-9s %-9s %-11s %-10s %-12s %-12s %s\n", "rate/s", "calls", "p50 ms", "p99 ms", "max ms",
		"p99/RSA", "CPU ms/call", "CPU/RSA", "send lag p99", "answers")
	for _, rate := range b.o.cheapRates {
		pr, err := b.phaseRun(ctx, rate, b.o.phase, b.cheapRight)
		if err != nil {
			return err
		}
		p50, p99, mx := quantiles(pick(pr.results, "", lat))
		_, lagp99, _ := quantiles(pick(pr.results, "", lag))
		cpuPer := float64(pr.cpu) / float64(len(pr.results))
		fmt.Printf("%-7.0f %-6d %-9.2f %-9.2f %-9.1f %-11.2f %-10.3f %-12.2f %-12.2f %s\n", rate, len(pr.results),
			ms(p50), ms(p99), ms(mx), float64(p99)/rsaNs, cpuPer/1e6, cpuPer/rsaNs, ms(lagp99), answers(pr))
	}
	fmt.Printf("load average %s\n", loadavg())
	return nil
}

// answers summarises a phase: HTTP outcome, then serve's attempts by action/reason.
func answers(pr *phaseResult) string {
	st := map[string]int{}
	for _, r := range pr.results {
		switch {
		case r.status == 0:
			st["no answer"]++
		case r.status != 200:
			st[fmt.Sprintf("HTTP %d", r.status)]++
		default:
			st[r.action]++
		}
	}
	var parts []string
	for _, k := range sortedKeys(st) {
		parts = append(parts, fmt.Sprintf("%s %d", k, st[k]))
	}
	var served []string
	for _, k := range sortedKeys(pr.metrics) {
		if strings.HasPrefix(k, "decisions le ") {
			continue
		}
		served = append(served, fmt.Sprintf("%s %.0f", k, pr.metrics[k]))
	}
	return strings.Join(parts, ", ") + " | serve: " + strings.Join(served, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (b *bench) bcryptPhase(ctx context.Context, raw float64) error {
	budget := b.o.timeout - min(150*time.Millisecond, b.o.timeout/2)
	fmt.Printf("\nbcrypt-10, right passwords, %s per load; budget %s, Entra's timeout %s; raw rate re-measured before and after each load\n",
		b.o.phase, budget, b.o.timeout)
	for _, load := range b.o.bcryptLoads {
		rate := load * raw
		before, cpuBefore := rawBcryptCPU(ctx, b.bcryptPW, 3*time.Second)
		pr, err := b.phaseRun(ctx, rate, b.o.phase, b.bcryptRight)
		if err != nil {
			return err
		}
		after, cpuAfter := rawBcryptCPU(ctx, b.bcryptPW, 3*time.Second)
		rawNow, rawCPU := (before+after)/2, (cpuBefore+cpuAfter)/2
		perCPU := verified(pr) / pr.cpu.Seconds()
		serverLate75 := pr.metrics["decisions le +Inf"] - pr.metrics["decisions le 0.75"]
		serverLate1 := pr.metrics["decisions le +Inf"] - pr.metrics["decisions le 1"]
		_, _, mx := quantiles(pick(pr.results, "", lat))
		s50, s99, smx := quantiles(pick(pr.results, "", service))
		through := verified(pr) / pr.elapsed.Seconds()
		overBudget, overTimeout, unanswered := 0, 0, 0
		for _, r := range pr.results {
			switch {
			case r.status == 0:
				unanswered++
			case r.service > b.o.timeout:
				overTimeout++
				overBudget++
			case r.service > budget:
				overBudget++
			}
		}
		fmt.Printf("load %.1fx of %.1f/s = %.1f/s offered, %d calls over %.1fs: verified %.0f = %.2f/s = %.3f of raw (raw %.2f/s before, %.2f/s after)\n"+
			"  per CPU second: serve %.2f verified, raw %.2f: ratio %.3f\n"+
			"  service latency p50 %.0f ms, p99 %.0f ms, max %.0f ms; over the budget %d, over the timeout %d, unanswered %d; "+
			"max from the scheduled send %.0f ms; serve's own histogram: %.0f decisions over 0.75 s, %.0f over 1 s\n"+
			"  serve RSS %.1f MiB, peak %.1f MiB, CPU %.1fs\n  %s\n",
			load, raw, rate, len(pr.results), pr.elapsed.Seconds(), verified(pr), through, through/rawNow, before, after,
			perCPU, rawCPU, perCPU/rawCPU,
			ms(s50), ms(s99), ms(smx), overBudget, overTimeout, unanswered, ms(mx), serverLate75, serverLate1,
			pr.rss, pr.peakRSS, pr.cpu.Seconds(), answers(pr))
	}
	fmt.Printf("load average %s\n", loadavg())
	return nil
}

// verified counts the verifications that ended in an answer: right passwords answered MigratePassword.
func verified(pr *phaseResult) float64 { return pr.metrics["MigratePassword/match"] }

func (b *bench) timingPhase(ctx context.Context, raw float64) error {
	fmt.Printf("\nknown user with a wrong password vs unknown user, interleaved at random (%s, bcrypt-10 %s); service latency (send to answer)\n",
		b.o.phase, 2*b.o.phase)
	fmt.Printf("%-22s %-8s %-8s %-10s %-10s %-10s %-10s %-10s %-10s %s\n", "credential", "rate/s", "calls",
		"known p50", "unkn. p50", "ratio", "known p99", "unkn. p99", "ratio", "answers")
	for _, c := range []struct {
		name  string
		rate  float64
		d     time.Duration
		kind  byte
		users int
	}{
		{"salted SHA-256", b.o.timingRate, b.o.phase, 'c', b.o.cheapUsers},
		{"bcrypt-10", b.o.timingBcrypt * raw, 2 * b.o.phase, 'b', b.o.bcryptUsers}, // twice as long: few calls per second
	} {
		// The dummy verification of an unknown user runs against the hash last verified: one right password of
		// this kind first, so that the first unknown user of the phase is not checked against the previous kind.
		warm := b.cheapRight
		if c.kind == 'b' {
			warm = b.bcryptRight
		}
		if _, err := b.phaseRun(ctx, 1, time.Second, warm); err != nil {
			return err
		}
		pr, err := b.phaseRun(ctx, c.rate, c.d, b.knownOrUnknown(c.kind, c.users))
		if err != nil {
			return err
		}
		k50, k99, _ := quantiles(pick(pr.results, "wrong", service))
		u50, u99, _ := quantiles(pick(pr.results, "unknown", service))
		fmt.Printf("%-22s %-8.1f %-8d %-10.2f %-10.2f %-10.3f %-10.2f %-10.2f %-10.3f %s\n", c.name, c.rate, len(pr.results),
			ms(k50), ms(u50), float64(u50)/float64(k50), ms(k99), ms(u99), float64(u99)/float64(k99), answers(pr))
	}
	fmt.Printf("load average %s\n", loadavg())
	return nil
}
