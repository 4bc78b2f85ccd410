package tenant

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/idshift/idshift/graph"
)

// Key is a token encryption key: the RSA private key the service decrypts with and the self-signed certificate
// whose public key Entra encrypts with, under the keyCredential KeyID.
type Key struct {
	KeyID string
	Priv  *rsa.PrivateKey
	Cert  *x509.Certificate
}

// GenerateKey returns a new RSA-2048 key with a self-signed certificate for subject, valid from now (minus a
// minute of clock skew) for validity, and a new key id.
func GenerateKey(subject string, now time.Time, validity time.Duration) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("tenant: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tenant: generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: subject},
		NotBefore:             now.Add(-time.Minute).UTC().Truncate(time.Second),
		NotAfter:              now.Add(validity).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("tenant: self-sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tenant: self-sign certificate: %w", err)
	}
	return &Key{KeyID: newGUID(), Priv: priv, Cert: cert}, nil
}

// PEM encodes the private key (PKCS#8, "PRIVATE KEY") followed by the certificate.
func (k *Key) PEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Priv)
	if err != nil {
		return nil, fmt.Errorf("tenant: encode key: %w", err)
	}
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})
	return b.Bytes(), nil
}

// credential is the keyCredential that uploads k's certificate for token encryption.
func (k *Key) credential() graph.KeyCredential {
	start, end := k.Cert.NotBefore, k.Cert.NotAfter
	return graph.KeyCredential{
		KeyID: k.KeyID, Type: "AsymmetricX509Cert", Usage: "Encrypt", Key: k.Cert.Raw,
		DisplayName: "CN=" + k.Cert.Subject.CommonName, StartDateTime: &start, EndDateTime: &end,
	}
}

// WriteKeyFile writes k as PEM to path, created with mode 0600; an existing file is never overwritten (an
// error matching fs.ErrExist).
func WriteKeyFile(path string, k *Key) error {
	b, err := k.PEM()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("tenant: key file: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("tenant: key file %s: %w", path, err)
	}
	return nil
}

// LoadKeyFile reads an RSA private key (PKCS#8 or PKCS#1 PEM) and, when the file holds one, its certificate.
// Errors never include the file's content.
func LoadKeyFile(path string) (*rsa.PrivateKey, *x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("tenant: key file: %w", err)
	}
	var priv *rsa.PrivateKey
	var cert *x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("tenant: key file %s: the private key does not parse", path)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, nil, fmt.Errorf("tenant: key file %s: not an RSA key", path)
			}
			priv = rk
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("tenant: key file %s: the private key does not parse", path)
			}
			priv = k
		case "CERTIFICATE":
			if cert == nil {
				if cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
					return nil, nil, fmt.Errorf("tenant: key file %s: certificate: %w", path, err)
				}
			}
		}
	}
	if priv == nil {
		return nil, nil, fmt.Errorf("tenant: key file %s: no private key in it", path)
	}
	return priv, cert, nil
}

// matches reports whether priv is the private key of the certificate DER.
func matches(priv *rsa.PrivateKey, der []byte) bool {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return false
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	return ok && pub.Equal(&priv.PublicKey)
}

// encryptionKey returns the keyCredential named by the app's tokenEncryptionKeyId, when it is an Encrypt key.
func encryptionKey(keys []graph.KeyCredential, keyID string) *graph.KeyCredential {
	if keyID == "" {
		return nil
	}
	for i := range keys {
		if strings.EqualFold(keys[i].KeyID, keyID) && keys[i].Usage == "Encrypt" {
			return &keys[i]
		}
	}
	return nil
}

// keyPatch builds the PATCH adding k to keys and naming it the token encryption key, and its displayable form
// (existing certificates summarised, never key material printed twice).
func keyPatch(keys []graph.KeyCredential, newCred graph.KeyCredential, current string) (patch, shown map[string]any) {
	all := append(append([]graph.KeyCredential{}, keys...), newCred)
	var display []any
	for _, k := range keys {
		display = append(display, map[string]any{"keyId": k.KeyID, "type": k.Type, "usage": k.Usage,
			"displayName": k.DisplayName, "key": fmt.Sprintf("{existing certificate, %d bytes, kept}", len(k.Key))})
	}
	nk := map[string]any{"keyId": newCred.KeyID, "type": newCred.Type, "usage": newCred.Usage, "displayName": newCred.DisplayName,
		"key": "{new certificate, base64 DER}"}
	if len(newCred.Key) > 0 {
		nk["key"] = newCred.Key
		nk["startDateTime"], nk["endDateTime"] = newCred.StartDateTime, newCred.EndDateTime
	}
	display = append(display, nk)
	return map[string]any{"keyCredentials": all, "tokenEncryptionKeyId": current},
		map[string]any{"keyCredentials": display, "tokenEncryptionKeyId": current}
}

// addKey generates a key, writes or returns it, and PATCHes it into the app's keyCredentials (merged with the
// existing ones read with their keys) as the token encryption key. In a dry run it only records the request.
func (r *run) addKey(ctx context.Context, app *graph.Application, keys []graph.KeyCredential) error {
	cfg := r.cfg
	cred := graph.KeyCredential{KeyID: "{new keyId}", Type: "AsymmetricX509Cert", Usage: "Encrypt", DisplayName: "CN=" + cfg.CertSubject}
	var k *Key
	if !cfg.DryRun {
		var err error
		if k, err = GenerateKey(cfg.CertSubject, cfg.Now(), cfg.CertValidity); err != nil {
			return err
		}
		cred = k.credential()
		if cfg.KeyOut != "" {
			if err := WriteKeyFile(cfg.KeyOut, k); err != nil {
				return err
			}
			r.res.KeyPath = cfg.KeyOut
		} else if r.res.PrivateKeyPEM, err = k.PEM(); err != nil {
			return err
		}
	}
	patch, shown := keyPatch(keys, cred, cred.KeyID)
	err := r.write("PATCH", "/v1.0/applications/"+app.ID, shown, func() error {
		return r.c.UpdateApplication(ctx, app.ID, patch)
	})
	if err != nil {
		if k != nil && cfg.KeyOut != "" && !errors.Is(err, graph.ErrUnknownOutcome) {
			_ = os.Remove(cfg.KeyOut) // the certificate was not uploaded: its key is of no use
			r.res.KeyPath = ""
		}
		return graphErr("upload the encryption certificate", err, "Application.ReadWrite.All")
	}
	r.res.NewKey = true
	r.res.KeyID = cred.KeyID
	r.cfg.Logger.Info("tenant: encryption certificate uploaded", "keyId", cred.KeyID, "keyFile", r.res.KeyPath)
	return nil
}

// RotateKey adds a new encryption certificate to the extension's app and makes it the token encryption key,
// keeping the previous ones (Entra encrypts with the new key at once; the service keeps decrypting with both
// until the old one is removed with RemoveKey). The new private key goes to Config.KeyOut (required unless
// DryRun or the caller seals Result.PrivateKeyPEM itself).
func RotateKey(ctx context.Context, c *graph.Client, cfg Config) (*Result, error) {
	cfg.setDefaults()
	r := &run{c: c, cfg: cfg, res: &Result{}}
	app, keys, err := r.extensionAppKeys(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.addKey(ctx, app, keys); err != nil {
		return nil, err
	}
	return r.res, nil
}

// RemoveKey removes the keyCredential keyID from the extension's app. The current token encryption key cannot be
// removed (rotate first). Removing a key that is not there sends nothing.
func RemoveKey(ctx context.Context, c *graph.Client, cfg Config, keyID string) (*Result, error) {
	cfg.setDefaults()
	r := &run{c: c, cfg: cfg, res: &Result{}}
	app, keys, err := r.extensionAppKeys(ctx)
	if err != nil {
		return nil, err
	}
	r.res.KeyID = app.TokenEncryptionKeyID
	if strings.EqualFold(keyID, app.TokenEncryptionKeyID) {
		return nil, fmt.Errorf("%w: key %s is the current token encryption key: rotate to a new key first", ErrInvalidConfig, keyID)
	}
	kept := make([]graph.KeyCredential, 0, len(keys))
	var display []any
	for _, k := range keys {
		if !strings.EqualFold(k.KeyID, keyID) {
			kept = append(kept, k)
			display = append(display, map[string]any{"keyId": k.KeyID, "usage": k.Usage, "key": fmt.Sprintf("{existing certificate, %d bytes, kept}", len(k.Key))})
		}
	}
	if len(kept) == len(keys) {
		return r.res, nil
	}
	err = r.write("PATCH", "/v1.0/applications/"+app.ID, map[string]any{"keyCredentials": display}, func() error {
		return c.UpdateApplication(ctx, app.ID, map[string]any{"keyCredentials": kept})
	})
	if err != nil {
		return nil, graphErr("remove key "+keyID, err, "Application.ReadWrite.All")
	}
	return r.res, nil
}

// extensionAppKeys finds the extension's app (which must exist) and reads its keys with their material.
func (r *run) extensionAppKeys(ctx context.Context) (*graph.Application, []graph.KeyCredential, error) {
	app, err := r.findApp(ctx)
	if err != nil {
		return nil, nil, err
	}
	if app == nil {
		return nil, nil, fmt.Errorf("tenant: no application named %q: run tenant setup first", r.cfg.AppDisplayName)
	}
	r.res.AppID, r.res.AppObjectID = app.AppID, app.ID
	keys, err := r.c.GetApplicationKeys(ctx, app.ID)
	if err != nil {
		return nil, nil, graphErr("read the keys of "+app.DisplayName, err, "Application.ReadWrite.All")
	}
	return app, keys, nil
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
