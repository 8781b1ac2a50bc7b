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

func (cfg *Config) tls() (*tls.Config, error) {
	if !cfg.TLS && cfg.TLSCA == "" && cfg.TLSCert == "" && cfg.TLSKey == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("tls: client certificate and key must be given together")
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificates", cfg.TLSCA)
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
