package config

import (
	"flag"
	"testing"
)

func TestRegister(t *testing.T) {
	env := map[string]string{
		"PROMOFLOW_TEMPORAL_ADDRESS": "temporal.example:7233",
		"PROMOFLOW_BUCKET":           "prod-promos",
		"PROMOFLOW_S3_PATH_STYLE":    "false",
		"AWS_ACCESS_KEY_ID":          "AKIA",
		"AWS_SECRET_ACCESS_KEY":      "shh",
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var cfg Config
	cfg.Register(fs, func(k string) string { return env[k] })
	if err := fs.Parse([]string{"-namespace", "promos", "-s3-endpoint", ""}); err != nil {
		t.Fatal(err)
	}
	b := cfg.Blob()
	for _, c := range []struct{ name, got, want string }{
		{"address from env", cfg.TemporalAddress, "temporal.example:7233"},
		{"namespace from flag", cfg.Namespace, "promos"},
		{"task queue default", cfg.TaskQueue, "promoflow"},
		{"bucket", b.Bucket, "prod-promos"},
		{"endpoint cleared for AWS", b.Endpoint, ""},
		{"access key", b.AccessKey, "AKIA"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if b.PathStyle {
		t.Error("path style should be false from the environment")
	}
	if fs.Lookup("secret") != nil || fs.Lookup("aws-secret-access-key") != nil {
		t.Error("secrets must not be flags")
	}
}

func TestEmbeddedCredentialsOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		want     string
	}{
		{"http://127.0.0.1:7070", EmbeddedAccessKey},
		{"http://localhost:9000", EmbeddedAccessKey},
		{"https://s3.eu-west-1.amazonaws.com", ""},
		{"", ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var cfg Config
		cfg.Register(fs, func(string) string { return "" })
		if err := fs.Parse([]string{"-s3-endpoint", tc.endpoint}); err != nil {
			t.Fatal(err)
		}
		if got := cfg.Blob().AccessKey; got != tc.want {
			t.Errorf("endpoint %q: access key %q, want %q", tc.endpoint, got, tc.want)
		}
	}
}

// TestAWSEndpoint checks the endpoint settings that mean AWS S3 (the word
// AWSEndpoint from the environment or a flag, an empty flag) and that an
// empty variable counts as unset, leaving the embedded stack's endpoint.
func TestAWSEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   string
		args  []string
		want  string
		wantK string // access key: the embedded one only on loopback
	}{
		{"env aws", "aws", nil, "", ""},
		{"env AWS, spaces", " AWS ", nil, "", ""},
		{"flag aws", "", []string{"-s3-endpoint", "aws"}, "", ""},
		{"empty flag", "http://127.0.0.1:7070", []string{"-s3-endpoint", ""}, "", ""},
		{"empty env is unset", "", nil, "http://127.0.0.1:7070", EmbeddedAccessKey},
		{"env URL", "https://s3.example:9000", nil, "https://s3.example:9000", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			var cfg Config
			cfg.Register(fs, func(k string) string {
				if k == "PROMOFLOW_S3_ENDPOINT" {
					return tc.env
				}
				return ""
			})
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			b := cfg.Blob()
			if b.Endpoint != tc.want || b.AccessKey != tc.wantK {
				t.Errorf("endpoint %q, access key %q; want %q, %q", b.Endpoint, b.AccessKey, tc.want, tc.wantK)
			}
		})
	}
}
