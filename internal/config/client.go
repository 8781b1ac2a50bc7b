package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/promoflow/promoflow/internal/codec"
)

// ClientOptions returns the Temporal client options cfg describes: plain
// gRPC for the embedded stack; TLS with an optional client certificate
// (mTLS) for a self-hosted cluster or Temporal Cloud; an API key (which
// implies TLS) for Temporal Cloud; and, when encryption keys are set, a data
// converter that encrypts every payload.
func (cfg *Config) ClientOptions(logger log.Logger) (client.Options, error) {
	opts := client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.Namespace, Logger: logger}
	if err := cfg.sec().profileErr; err != nil {
		return opts, err
	}
	tlsCfg, err := cfg.tls()
	if err != nil {
		return opts, err
	}
	if cfg.sec().apiKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.sec().apiKey)
		if tlsCfg == nil { // API keys are only sent over TLS
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	opts.ConnectionOptions.TLS = tlsCfg
	if cfg.sec().encryptionKeys != "" {
		keys, err := codec.ParseKeys(cfg.sec().encryptionKeys)
		if err != nil {
			return opts, fmt.Errorf("PROMOFLOW_ENCRYPTION_KEYS: %w", err)
		}
		opts.DataConverter = codec.New(keys).DataConverter()
	}
	return opts, nil
}

// Codec returns the payload codec of the configured encryption keys, or nil
// when payloads are not encrypted.
func (cfg *Config) Codec() (*codec.Codec, error) {
	if cfg.sec().encryptionKeys == "" {
		return nil, nil
	}
	keys, err := codec.ParseKeys(cfg.sec().encryptionKeys)
	if err != nil {
		return nil, fmt.Errorf("PROMOFLOW_ENCRYPTION_KEYS: %w", err)
	}
	return codec.New(keys), nil
}

// CodecToken is the bearer token the codec server requires of its callers
// (PROMOFLOW_CODEC_TOKEN); empty means none.
func (cfg *Config) CodecToken() string { return cfg.sec().codecToken }

// tls is the TLS configuration to Temporal, nil for plain gRPC. Files
// (flags, PROMOFLOW_TLS_* or the Temporal profile's paths) come before
// the PEM contents of the Temporal profile (TEMPORAL_TLS_*_DATA).
func (cfg *Config) tls() (*tls.Config, error) {
	sec := cfg.sec()
	certPEM, keyPEM, caPEM := sec.tlsCert, sec.tlsKey, sec.tlsCA
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		certPEM, keyPEM = nil, nil
	}
	if cfg.TLSCA != "" {
		caPEM = nil
	}
	if !cfg.TLS && cfg.TLSCA == "" && cfg.TLSCert == "" && cfg.TLSKey == "" && certPEM == nil && keyPEM == nil && caPEM == nil {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") || (certPEM == nil) != (keyPEM == nil) {
		return nil, errors.New("tls: client certificate and key must be given together")
	}
	switch {
	case cfg.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	case certPEM != nil:
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate (TEMPORAL_TLS_CLIENT_CERT_DATA): %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	name := cfg.TLSCA
	if name != "" {
		var err error
		if caPEM, err = os.ReadFile(cfg.TLSCA); err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
	} else {
		name = "TEMPORAL_TLS_SERVER_CA_CERT_DATA"
	}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificates", name)
		}
		t.RootCAs = pool
	}
	return t, nil
}

func (cfg *Config) sec() *secrets {
	if cfg.secrets == nil {
		return &secrets{}
	}
	return cfg.secrets
}
