package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTemporalSettingsPrecedence: a Temporal setting comes from its flag,
// else its PROMOFLOW_* variable, else the Temporal tools' TEMPORAL_*
// variable, else the profile of the Temporal config file, else the
// embedded stack's default.
func TestTemporalSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	ca, _ := writeCert(t, dir, "ca")
	cert, key := writeCert(t, dir, "client")
	certPEM, _ := os.ReadFile(cert)
	keyPEM, _ := os.ReadFile(key)
	toml := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(toml, []byte(`
[profile.default]
address = "file-default.example:7233"
namespace = "file-ns"

[profile.prod]
address = "prod.tmprl.cloud:7233"
namespace = "prod.a1b2c"
api_key = "file-api-key"

[profile.mtls]
address = "mtls.example:7233"
[profile.mtls.tls]
client_cert_path = "`+cert+`"
client_key_path = "`+key+`"
server_ca_cert_path = "`+ca+`"
server_name = "temporal.internal"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	xdg := filepath.Join(dir, "xdg")
	os.MkdirAll(filepath.Join(xdg, "temporalio"), 0o755)
	os.WriteFile(filepath.Join(xdg, "temporalio", "temporal.toml"), []byte("[profile.default]\naddress = \"xdg.example:7233\"\n"), 0o600)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[profile.default\naddress = 1"), 0o600)

	type want struct {
		address, namespace, apiKey, serverName string
		tls                                    bool
		certs                                  int
		rootCAs                                bool
		err                                    string
	}
	plain := want{address: "127.0.0.1:7233", namespace: "default"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want want
	}{
		{"nothing: the embedded stack", nil, nil, plain},
		{"home without a Temporal file", map[string]string{"HOME": dir}, nil, plain},
		{"TEMPORAL_* variables", map[string]string{"TEMPORAL_ADDRESS": "t.example:7233", "TEMPORAL_NAMESPACE": "tns"}, nil,
			want{address: "t.example:7233", namespace: "tns"}},
		{"PROMOFLOW_* over TEMPORAL_*", map[string]string{"TEMPORAL_ADDRESS": "t.example:7233", "TEMPORAL_NAMESPACE": "tns",
			"PROMOFLOW_TEMPORAL_ADDRESS": "p.example:7233", "PROMOFLOW_NAMESPACE": "pns"}, nil,
			want{address: "p.example:7233", namespace: "pns"}},
		{"flag over both", map[string]string{"TEMPORAL_ADDRESS": "t.example:7233", "PROMOFLOW_TEMPORAL_ADDRESS": "p.example:7233"},
			[]string{"-temporal-address", "f.example:7233"}, want{address: "f.example:7233", namespace: "default"}},
		{"config file's default profile", map[string]string{"TEMPORAL_CONFIG_FILE": toml}, nil,
			want{address: "file-default.example:7233", namespace: "file-ns"}},
		{"TEMPORAL_* over the config file", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_NAMESPACE": "tns"}, nil,
			want{address: "file-default.example:7233", namespace: "tns"}},
		{"config file in the user config dir", map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": dir}, nil,
			want{address: "xdg.example:7233", namespace: "default"}},
		{"TEMPORAL_PROFILE with an API key: TLS", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "prod"}, nil,
			want{address: "prod.tmprl.cloud:7233", namespace: "prod.a1b2c", apiKey: "file-api-key", tls: true}},
		{"TEMPORAL_API_KEY over the profile's", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "prod", "TEMPORAL_API_KEY": "env-key"}, nil,
			want{address: "prod.tmprl.cloud:7233", namespace: "prod.a1b2c", apiKey: "env-key", tls: true}},
		{"PROMOFLOW_TEMPORAL_API_KEY over TEMPORAL_API_KEY", map[string]string{"TEMPORAL_API_KEY": "env-key", "PROMOFLOW_TEMPORAL_API_KEY": "promoflow-key"}, nil,
			want{address: "127.0.0.1:7233", namespace: "default", apiKey: "promoflow-key", tls: true}},
		{"profile's mTLS files", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "mtls"}, nil,
			want{address: "mtls.example:7233", namespace: "default", serverName: "temporal.internal", tls: true, certs: 1, rootCAs: true}},
		{"PROMOFLOW_TLS_SERVER_NAME over the profile's", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "mtls", "PROMOFLOW_TLS_SERVER_NAME": "other.internal"}, nil,
			want{address: "mtls.example:7233", namespace: "default", serverName: "other.internal", tls: true, certs: 1, rootCAs: true}},
		{"TEMPORAL_TLS_* paths", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert, "TEMPORAL_TLS_CLIENT_KEY_PATH": key,
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH": ca, "TEMPORAL_TLS_SERVER_NAME": "t.internal"}, nil,
			want{address: "127.0.0.1:7233", namespace: "default", serverName: "t.internal", tls: true, certs: 1, rootCAs: true}},
		{"TEMPORAL_TLS_*_DATA contents", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_DATA": string(certPEM), "TEMPORAL_TLS_CLIENT_KEY_DATA": string(keyPEM)}, nil,
			want{address: "127.0.0.1:7233", namespace: "default", tls: true, certs: 1}},
		{"TEMPORAL_TLS alone", map[string]string{"TEMPORAL_TLS": "true"}, nil, want{address: "127.0.0.1:7233", namespace: "default", tls: true}},
		{"PROMOFLOW_TLS=false over TEMPORAL_TLS", map[string]string{"TEMPORAL_TLS": "true", "PROMOFLOW_TLS": "false"}, nil, plain},
		{"unknown TEMPORAL_PROFILE", map[string]string{"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "staging"}, nil,
			want{err: "unable to find profile staging"}},
		{"malformed config file", map[string]string{"TEMPORAL_CONFIG_FILE": bad}, nil, want{err: bad}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parse(t, tc.env, tc.args...)
			opts, err := cfg.ClientOptions(nil)
			if tc.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want.err) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := want{address: opts.HostPort, namespace: opts.Namespace, apiKey: cfg.sec().apiKey, tls: opts.ConnectionOptions.TLS != nil}
			if tc := opts.ConnectionOptions.TLS; tc != nil {
				got.serverName, got.certs, got.rootCAs = tc.ServerName, len(tc.Certificates), tc.RootCAs != nil
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if (tc.want.apiKey != "") != (opts.Credentials != nil) {
				t.Errorf("credentials %v with API key %q", opts.Credentials, tc.want.apiKey)
			}
		})
	}
}
