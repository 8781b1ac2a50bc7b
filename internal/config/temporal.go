package config

import (
	"fmt"
	"path/filepath"
	"runtime"

	"go.temporal.io/sdk/contrib/envconfig"
)

// temporalProfile is the connection the Temporal tools' own settings
// describe (the SDK's envconfig): the profile TEMPORAL_PROFILE (default
// "default") of the TOML file TEMPORAL_CONFIG_FILE (default
// <user config dir>/temporalio/temporal.toml; a missing file is no
// profile), with TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS and TEMPORAL_TLS_* over it. Register gives these the place
// below promoflow's own PROMOFLOW_* variables and above the embedded
// stack's defaults. Everything is read through getenv, so a test's
// environment is the whole environment.
func temporalProfile(getenv func(string) string) (envconfig.ClientConfigProfile, error) {
	env := envLookup(getenv)
	path := getenv("TEMPORAL_CONFIG_FILE")
	if path == "" {
		dir := userConfigDir(getenv)
		if dir == "" {
			return envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{DisableFile: true, EnvLookup: env})
		}
		path = filepath.Join(dir, "temporalio", "temporal.toml")
	}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{ConfigFilePath: path, EnvLookup: env})
	if err != nil {
		return prof, fmt.Errorf("Temporal client settings (%s, TEMPORAL_* variables): %w", path, err)
	}
	return prof, nil
}

// userConfigDir is os.UserConfigDir read through getenv: where the
// Temporal CLI keeps temporal.toml; "" when the environment does not say.
func userConfigDir(getenv func(string) string) string {
	switch runtime.GOOS {
	case "windows":
		return getenv("AppData")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support")
		}
		return ""
	}
	if d := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return d
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config")
	}
	return ""
}

// envLookup is getenv as envconfig reads the environment. An empty
// variable counts as unset, as for promoflow's own variables. It lists no
// variables: TEMPORAL_GRPC_META_* (gRPC headers) are not read.
type envLookup func(string) string

// LookupEnv is getenv; a variable is set when it is not empty.
func (e envLookup) LookupEnv(name string) (string, bool) {
	v := e(name)
	return v, v != ""
}

// Environ lists nothing (see envLookup).
func (e envLookup) Environ() []string { return nil }
