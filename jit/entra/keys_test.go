package entra_test

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/idshift/idshift/jit/entra"
)

// TestThumbprint checks x5t against openssl's SHA-1 fingerprints (testdata/thumbprints.txt).
func TestThumbprint(t *testing.T) {
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "thumbprints.txt")))
	n := 0
	for sc.Scan() {
		name, want, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		b, _ := pem.Decode(readFile(t, name+".crt"))
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := entra.Thumbprint(cert); got != want {
			t.Errorf("Thumbprint(%s) = %s, want %s", name, got, want)
		}
		if kp := loadPair(t, name); kp.X5T != want {
			t.Errorf("LoadKeyPair(%s).X5T = %s, want %s", name, kp.X5T, want)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d vectors, want 3", n)
	}
}

func TestLoadKeyPairRefusals(t *testing.T) {
	dec1crt, dec1key := readFile(t, "dec1.crt"), readFile(t, "dec1.key")
	dec2key := readFile(t, "dec2.key")
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}})
	cases := []struct {
		name      string
		cert, key []byte
	}{
		{"certificate of another key", dec1crt, dec2key},
		{"no certificate", nil, dec1key},
		{"no key", dec1crt, nil},
		{"key and certificate swapped", dec1key, dec1crt},
		{"EC key", readFile(t, "ec.crt"), readFile(t, "ec.key")},
		{"encrypted key", dec1crt, encrypted},
		{"corrupt PKCS#8", dec1crt, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := entra.LoadKeyPair(tc.cert, tc.key); err == nil {
				t.Error("accepted")
			} else if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error shows PEM: %v", err)
			}
		})
	}
}

func TestKeyPairNeverPrintsTheKey(t *testing.T) {
	kp := loadPair(t, "dec1")
	d := kp.Key.D.String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		if s := fmt.Sprintf(verb, kp); strings.Contains(s, d) || !strings.Contains(s, kp.X5T) {
			t.Errorf("Sprintf(%s) = %.80s", verb, s)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("k", "key", kp)
	if strings.Contains(buf.String(), d) {
		t.Error("slog shows the key")
	}
}
