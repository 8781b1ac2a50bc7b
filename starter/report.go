package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/layout"
)

// ReportOutput is what `starter report --json` prints.
type ReportOutput struct {
	Template string `json:"template"`
	Key      string `json:"key"`
	URL      string `json:"url"`
}

// reportCmd writes a template's overview page (reports/<template>/index.html)
// from what the bucket holds now, as every evaluation does, and prints
// where it is.
func reportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report")
	cfg := config.FromEnv(fs)
	tmpl := fs.String("template", "", "campaign template (a simulation's id for a simulated template)")
	asJSON := fs.Bool("json", false, "print {template, key, url} as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *tmpl == "" {
		return errors.New("usage: starter report --template T [--json]")
	}
	if strings.ContainsAny(*tmpl, "/ ") {
		return fmt.Errorf("--template %q: not a template name", *tmpl)
	}
	store, err := blob.NewS3(ctx, cfg.Blob())
	if err != nil {
		return err
	}
	url, err := activities.WriteOverview(ctx, store, *tmpl, time.Now().UTC())
	if err != nil {
		return err
	}
	out := ReportOutput{Template: *tmpl, Key: layout.TemplateOverview(*tmpl), URL: url}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintln(stdout, out.URL)
	return nil
}
