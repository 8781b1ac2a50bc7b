package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir, name string) (certPath, keyPath string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certPath, keyPath
}

func parse(t *testing.T, env map[string]string, args ...string) *Config {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var cfg Config
	cfg.Register(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func TestClientOptions(t *testing.T) {
	dir := t.TempDir()
	ca, _ := writeCert(t, dir, "ca")
	cert, key := writeCert(t, dir, "client")
	encKey := base64.StdEncoding.EncodeToString(make([]byte, 32))

	t.Run("embedded: plain gRPC", func(t *testing.T) {
		opts, err := parse(t, nil).ClientOptions(nil)
		if err != nil || opts.ConnectionOptions.TLS != nil || opts.Credentials != nil || opts.DataConverter != nil {
			t.Errorf("opts %+v, err %v", opts, err)
		}
	})
	t.Run("self-hosted mTLS", func(t *testing.T) {
		cfg := parse(t, map[string]string{"PROMOFLOW_TLS_CA": ca}, "-tls-cert", cert, "-tls-key", key,
			"-tls-server-name", "temporal.internal", "-temporal-address", "temporal.internal:7233")
		opts, err := cfg.ClientOptions(nil)
		if err != nil {
			t.Fatal(err)
		}
		tc := opts.ConnectionOptions.TLS
		if tc == nil || len(tc.Certificates) != 1 || tc.RootCAs == nil || tc.ServerName != "temporal.internal" || opts.HostPort != "temporal.internal:7233" {
			t.Errorf("tls %+v", tc)
		}
	})
	t.Run("Temporal Cloud API key", func(t *testing.T) {
		const apiKey = "eyJhbGciOi.secret-api-key"
		cfg := parse(t, map[string]string{
			"PROMOFLOW_TEMPORAL_API_KEY": apiKey,
			"PROMOFLOW_TEMPORAL_ADDRESS": "eu-west-1.aws.api.temporal.io:7233",
			"PROMOFLOW_NAMESPACE":        "promos.a1b2c",
			"PROMOFLOW_ENCRYPTION_KEYS":  "k1:" + encKey,
		})
		opts, err := cfg.ClientOptions(nil)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Credentials == nil || opts.ConnectionOptions.TLS == nil || opts.Namespace != "promos.a1b2c" {
			t.Errorf("cloud options: credentials %v, tls %v, namespace %q", opts.Credentials, opts.ConnectionOptions.TLS, opts.Namespace)
		}
		p, err := opts.DataConverter.ToPayload("campaign")
		if err != nil || string(p.Metadata["encoding"]) != "binary/encrypted" {
			t.Errorf("payloads not encrypted: %v %v", p, err)
		}
		// Printing the configuration never shows a secret.
		for _, s := range []string{fmt.Sprintf("%v", *cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", *cfg)} {
			if strings.Contains(s, apiKey) || strings.Contains(s, encKey) {
				t.Errorf("secret in %q", s)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		for name, cfg := range map[string]*Config{
			"cert without key": parse(t, nil, "-tls-cert", cert),
			"ca not pem":       parse(t, nil, "-tls-ca", key+".missing"),
			"bad enc key":      parse(t, map[string]string{"PROMOFLOW_ENCRYPTION_KEYS": "k1:short"}),
		} {
			if _, err := cfg.ClientOptions(nil); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
	})
}
