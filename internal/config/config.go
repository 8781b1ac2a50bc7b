// Package config holds the connection settings shared by the worker and the
// starter: where Temporal and the bucket are. Every setting has a flag and an
// environment variable; the defaults point at the embedded stack of `make up`.
package config

import (
	"flag"
	"net/url"
	"os"
	"strconv"

	"github.com/promoflow/promoflow/internal/blob"
)

// Config is where promoflow's control plane and data plane live.
type Config struct {
	TemporalAddress string
	Namespace       string
	TaskQueue       string
	UI              string // Temporal UI base URL, for links printed to operators
	S3              blob.Config
}

// Register defines cfg's flags on fs, with defaults taken from the
// environment (getenv, normally os.Getenv) or the embedded stack.
func (cfg *Config) Register(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	pathStyle, err := strconv.ParseBool(env("PROMOFLOW_S3_PATH_STYLE", "true"))
	if err != nil {
		pathStyle = true
	}
	fs.StringVar(&cfg.TemporalAddress, "temporal-address", env("PROMOFLOW_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port ($PROMOFLOW_TEMPORAL_ADDRESS)")
	fs.StringVar(&cfg.Namespace, "namespace", env("PROMOFLOW_NAMESPACE", "default"), "Temporal namespace ($PROMOFLOW_NAMESPACE)")
	fs.StringVar(&cfg.TaskQueue, "task-queue", env("PROMOFLOW_TASK_QUEUE", "promoflow"), "Temporal task queue ($PROMOFLOW_TASK_QUEUE)")
	fs.StringVar(&cfg.UI, "ui", env("PROMOFLOW_UI", "http://127.0.0.1:8233"), "Temporal UI base URL for links ($PROMOFLOW_UI)")
	fs.StringVar(&cfg.S3.Endpoint, "s3-endpoint", env("PROMOFLOW_S3_ENDPOINT", "http://127.0.0.1:7070"), "S3 endpoint URL; empty for AWS ($PROMOFLOW_S3_ENDPOINT)")
	fs.StringVar(&cfg.S3.Region, "s3-region", env("PROMOFLOW_S3_REGION", env("AWS_REGION", "us-east-1")), "S3 region ($PROMOFLOW_S3_REGION)")
	fs.StringVar(&cfg.S3.Bucket, "bucket", env("PROMOFLOW_BUCKET", "promoflow"), "bucket ($PROMOFLOW_BUCKET)")
	fs.BoolVar(&cfg.S3.PathStyle, "s3-path-style", pathStyle, "path-style S3 addressing ($PROMOFLOW_S3_PATH_STYLE)")
	// Credentials come only from the environment, never from flags, so they
	// do not show in process listings. Empty means the AWS default chain.
	cfg.S3.AccessKey = getenv("AWS_ACCESS_KEY_ID")
	cfg.S3.SecretKey = getenv("AWS_SECRET_ACCESS_KEY")
}

// Blob returns the bucket settings. Without credentials in the environment,
// a loopback endpoint gets the embedded stack's development credentials.
func (cfg *Config) Blob() blob.Config {
	c := cfg.S3
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
