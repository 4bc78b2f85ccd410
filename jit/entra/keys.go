package entra

import (
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as the SHA-1 thumbprint of the certificate (RFC 7515 §4.1.7).
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
)

// MinRSABits is the smallest RSA key accepted, for decryption keys and bearer-token signing keys alike.
const MinRSABits = 2048

// KeyPair is one decryption key of the extension: the RSA private key whose certificate was uploaded to the
// extension's app registration (keyCredentials, usage Encrypt), and that certificate's x5t. Several key pairs are
// configured during a rotation; the context's x5t header chooses among them.
//
// A KeyPair never prints its private key: String, GoString, Format and LogValue show only the thumbprint.
type KeyPair struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	// X5T is Thumbprint(Cert).
	X5T string
}

// Thumbprint returns a certificate's x5t: the base64url (unpadded) SHA-1 digest of its DER encoding, as Entra
// puts it in the JWE header of encryptedPasswordContext.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // see import
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewKeyPair checks that key and cert belong together (the certificate's public key is key's) and that the key is
// an RSA key of at least MinRSABits, and computes the thumbprint.
func NewKeyPair(key *rsa.PrivateKey, cert *x509.Certificate) (*KeyPair, error) {
	if key == nil || cert == nil {
		return nil, errors.New("entra: key pair: key and certificate are required")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("entra: key pair: the certificate's key is not RSA")
	}
	if !pub.Equal(&key.PublicKey) {
		return nil, errors.New("entra: key pair: the certificate does not belong to the private key")
	}
	if key.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("entra: key pair: RSA key of %d bits, want at least %d", key.N.BitLen(), MinRSABits)
	}
	return &KeyPair{Key: key, Cert: cert, X5T: Thumbprint(cert)}, nil
}

// LoadKeyPair reads a decryption key pair from PEM: certPEM holds the certificate (the first CERTIFICATE block is
// used; a chain may follow), keyPEM the unencrypted RSA private key as PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA
// PRIVATE KEY"). Errors never contain key material.
func LoadKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	var cert *x509.Certificate
	for rest := certPEM; cert == nil; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("entra: load key pair: no CERTIFICATE block in the certificate PEM")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("entra: load key pair: certificate: %w", err)
		}
		cert = c
	}

	var key *rsa.PrivateKey
	for rest := keyPEM; key == nil; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("entra: load key pair: no PRIVATE KEY or RSA PRIVATE KEY block in the key PEM")
		}
		if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("entra: load key pair: encrypted private keys are not supported")
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("entra: load key pair: unreadable PKCS#8 private key")
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, errors.New("entra: load key pair: the private key is not RSA")
			}
			key = rk
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("entra: load key pair: unreadable PKCS#1 private key")
			}
			key = k
		}
	}
	return NewKeyPair(key, cert)
}

// String shows the thumbprint only.
func (k *KeyPair) String() string {
	if k == nil {
		return "entra.KeyPair(nil)"
	}
	return "entra.KeyPair{x5t=" + k.X5T + "}"
}

// GoString shows the thumbprint only, even through %#v.
func (k *KeyPair) GoString() string { return k.String() }

// Format shows the thumbprint only, whatever the verb.
func (k *KeyPair) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue shows the thumbprint only.
func (k *KeyPair) LogValue() slog.Value { return slog.StringValue(k.String()) }

var (
	_ fmt.Stringer   = (*KeyPair)(nil)
	_ fmt.GoStringer = (*KeyPair)(nil)
	_ fmt.Formatter  = (*KeyPair)(nil)
	_ slog.LogValuer = (*KeyPair)(nil)
)
