// Package config holds the connection settings shared by the worker and the
// starter: where Temporal and the bucket are. Every setting has a flag and an
// environment variable; the defaults point at the embedded stack of `make up`.
package config

import (
	"flag"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/promoflow/promoflow/internal/blob"
)

// Config is where promoflow's control plane and data plane live.
type Config struct {
	TemporalAddress string
	Namespace       string
	TaskQueue       string
	UI              string // Temporal UI base URL, for links printed to operators
	S3              blob.Config

	// TLS to Temporal: on when TLS is set or any file is given.
	TLS           bool
	TLSCA         string // PEM file of the CA that signed the server certificate; empty means system roots
	TLSCert       string // PEM client certificate, for mTLS
	TLSKey        string // PEM client key
	TLSServerName string // overrides the name checked in the server certificate

	// Secrets come only from the environment. Behind a pointer, they print
	// as an address, so logging a Config cannot leak them.
	secrets *secrets
}

type secrets struct {
	apiKey         string // PROMOFLOW_TEMPORAL_API_KEY (else TEMPORAL_API_KEY or the profile's): Temporal Cloud API key
	encryptionKeys string // PROMOFLOW_ENCRYPTION_KEYS: id:base64,... AES-256 payload keys, first is current
	codecToken     string // PROMOFLOW_CODEC_TOKEN: bearer token the codec server requires
	// PEM contents from the Temporal profile (TEMPORAL_TLS_*_DATA or the
	// TOML file's *_data), used when no file is named.
	tlsCA, tlsCert, tlsKey []byte
	// profileErr is why the Temporal profile could not be read;
	// ClientOptions returns it.
	profileErr error
}

// Register defines cfg's flags on fs, with defaults taken from the
// environment (getenv, normally os.Getenv) or the embedded stack. A
// Temporal setting comes from, first to last: its flag; its PROMOFLOW_*
// variable; the Temporal tools' own settings (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, over the profile
// TEMPORAL_PROFILE of the file TEMPORAL_CONFIG_FILE: temporalProfile);
// the embedded stack's default.
func (cfg *Config) Register(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	prof, profErr := temporalProfile(getenv)
	tlsProf := prof.TLS
	if tlsProf == nil {
		tlsProf = &envconfig.ClientConfigTLS{Disabled: true}
	}
	orDefault := func(v, def string) string {
		if v != "" {
			return v
		}
		return def
	}
	pathStyle, err := strconv.ParseBool(env("PROMOFLOW_S3_PATH_STYLE", "true"))
	if err != nil {
		pathStyle = true
	}
	fs.StringVar(&cfg.TemporalAddress, "temporal-address", env("PROMOFLOW_TEMPORAL_ADDRESS", orDefault(prof.Address, "127.0.0.1:7233")), "Temporal frontend host:port ($PROMOFLOW_TEMPORAL_ADDRESS, else $TEMPORAL_ADDRESS or the Temporal profile's)")
	fs.StringVar(&cfg.Namespace, "namespace", env("PROMOFLOW_NAMESPACE", orDefault(prof.Namespace, "default")), "Temporal namespace ($PROMOFLOW_NAMESPACE, else $TEMPORAL_NAMESPACE or the Temporal profile's)")
	fs.StringVar(&cfg.TaskQueue, "task-queue", env("PROMOFLOW_TASK_QUEUE", "promoflow"), "Temporal task queue ($PROMOFLOW_TASK_QUEUE)")
	fs.StringVar(&cfg.UI, "ui", env("PROMOFLOW_UI", "http://127.0.0.1:8233"), "Temporal UI base URL for links ($PROMOFLOW_UI)")
	fs.StringVar(&cfg.S3.Endpoint, "s3-endpoint", env("PROMOFLOW_S3_ENDPOINT", "http://127.0.0.1:7070"), "S3 endpoint URL, or \""+AWSEndpoint+"\" for AWS S3's own endpoints ($PROMOFLOW_S3_ENDPOINT; an empty variable counts as unset)")
	fs.StringVar(&cfg.S3.Region, "s3-region", env("PROMOFLOW_S3_REGION", env("AWS_REGION", "us-east-1")), "S3 region ($PROMOFLOW_S3_REGION)")
	fs.StringVar(&cfg.S3.Bucket, "bucket", env("PROMOFLOW_BUCKET", "promoflow"), "bucket ($PROMOFLOW_BUCKET)")
	fs.BoolVar(&cfg.S3.PathStyle, "s3-path-style", pathStyle, "path-style S3 addressing ($PROMOFLOW_S3_PATH_STYLE)")
	tlsOn, _ := strconv.ParseBool(env("PROMOFLOW_TLS", strconv.FormatBool(!tlsProf.Disabled)))
	fs.BoolVar(&cfg.TLS, "tls", tlsOn, "connect to Temporal over TLS ($PROMOFLOW_TLS, else $TEMPORAL_TLS or the Temporal profile's)")
	fs.StringVar(&cfg.TLSCA, "tls-ca", env("PROMOFLOW_TLS_CA", tlsProf.ServerCACertPath), "CA certificate file for Temporal ($PROMOFLOW_TLS_CA, else $TEMPORAL_TLS_SERVER_CA_CERT_PATH or the profile's)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", env("PROMOFLOW_TLS_CERT", tlsProf.ClientCertPath), "client certificate file, mTLS ($PROMOFLOW_TLS_CERT, else $TEMPORAL_TLS_CLIENT_CERT_PATH or the profile's)")
	fs.StringVar(&cfg.TLSKey, "tls-key", env("PROMOFLOW_TLS_KEY", tlsProf.ClientKeyPath), "client key file, mTLS ($PROMOFLOW_TLS_KEY, else $TEMPORAL_TLS_CLIENT_KEY_PATH or the profile's)")
	fs.StringVar(&cfg.TLSServerName, "tls-server-name", env("PROMOFLOW_TLS_SERVER_NAME", tlsProf.ServerName), "server name to verify ($PROMOFLOW_TLS_SERVER_NAME, else $TEMPORAL_TLS_SERVER_NAME or the profile's)")
	// Credentials come only from the environment, never from flags, so they
	// do not show in process listings. Empty means the AWS default chain.
	cfg.S3.AccessKey = getenv("AWS_ACCESS_KEY_ID")
	cfg.S3.SecretKey = getenv("AWS_SECRET_ACCESS_KEY")
	cfg.secrets = &secrets{
		apiKey: env("PROMOFLOW_TEMPORAL_API_KEY", prof.APIKey), encryptionKeys: getenv("PROMOFLOW_ENCRYPTION_KEYS"),
		codecToken: getenv("PROMOFLOW_CODEC_TOKEN"),
		tlsCA:      tlsProf.ServerCACertData, tlsCert: tlsProf.ClientCertData, tlsKey: tlsProf.ClientKeyData,
		profileErr: profErr,
	}
}

// AWSEndpoint is the S3 endpoint setting that means AWS S3's own regional
// endpoints. An empty PROMOFLOW_S3_ENDPOINT cannot say so: like every
// promoflow variable, empty counts as unset and the embedded stack's
// endpoint applies (a Kubernetes ConfigMap or a compose file cannot tell
// an empty value from a missing one either).
const AWSEndpoint = "aws"

// Blob returns the bucket settings. The endpoint AWSEndpoint (any case) or
// an empty flag becomes blob's empty endpoint, AWS's own. Without
// credentials in the environment, a loopback endpoint gets the embedded
// stack's development credentials.
func (cfg *Config) Blob() blob.Config {
	c := cfg.S3
	if strings.EqualFold(strings.TrimSpace(c.Endpoint), AWSEndpoint) {
		c.Endpoint = ""
	}
	if c.AccessKey == "" && isLoopback(c.Endpoint) {
		c.AccessKey, c.SecretKey = EmbeddedAccessKey, EmbeddedSecretKey
	}
	return c
}

func isLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// Embedded stack credentials: versitygw on loopback, for development only.
const (
	EmbeddedAccessKey = "promoflow"
	EmbeddedSecretKey = "promoflow-secret"
)

// FromEnv returns a Config built from flags parsed out of args, with
// defaults from the process environment.
func FromEnv(fs *flag.FlagSet) *Config {
	var cfg Config
	cfg.Register(fs, os.Getenv)
	return &cfg
}
