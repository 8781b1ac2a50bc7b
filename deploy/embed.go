// Package deploy holds the deployment files and the default campaign
// configuration: the offer catalog (offers.yaml) and the templates
// (templates/*.yaml), embedded so the starter works from any directory.
package deploy

import "embed"

// Campaigns holds offers.yaml and templates/*.yaml.
//
//go:embed offers.yaml templates/*.yaml
var Campaigns embed.FS

// SynthMapping is datasets/synth.yaml: the mapping of generated events,
// campaign histories and profiles (the world simulator's inputs).
//
//go:embed datasets/synth.yaml
var SynthMapping string
