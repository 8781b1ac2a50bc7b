package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/promoflow/promoflow/deploy"
	"github.com/promoflow/promoflow/internal/campaign"
)

// specFlags are the run flags that choose and adjust the campaign: the
// template and catalog files, and the per-run overrides.
type specFlags struct {
	templatesDir, offers          string
	budget                        float64
	event, start, end             string
	controlShare, exploreShare    float64
	optOut, history               string
	budgetSet, controlSet, expSet bool
}

func (s *specFlags) register(f *flag.FlagSet) {
	f.StringVar(&s.templatesDir, "templates-dir", "", "directory of campaign templates NAME.yaml (default: the templates built in, deploy/templates)")
	f.StringVar(&s.offers, "offers", "", "offer catalog YAML (default: the catalog built in, deploy/offers.yaml)")
	f.Func("budget", "campaign budget, overriding the template's (0: no budget)", func(v string) error {
		_, err := fmt.Sscan(v, &s.budget)
		s.budgetSet = true
		return err
	})
	f.StringVar(&s.event, "event", "", `holiday or event name, e.g. "Christmas 2011": the run's workflow ID becomes <template>-<event-slug>`)
	f.StringVar(&s.start, "start", "", "campaign start date (2006-01-02); default: when the decision runs")
	f.StringVar(&s.end, "end", "", "campaign end date (2006-01-02); default: start + the template's window_days")
	f.Func("control-share", "share of eligible users held out as control, overriding the template's", func(v string) error {
		_, err := fmt.Sscan(v, &s.controlShare)
		s.controlSet = true
		return err
	})
	f.Func("explore-share", "share of treatable users given a random eligible offer, overriding the template's", func(v string) error {
		_, err := fmt.Sscan(v, &s.exploreShare)
		s.expSet = true
		return err
	})
	f.StringVar(&s.optOut, "opt-out", "", "opted-out users: local files or s3:// keys, comma-separated (one user id per line, or a CSV whose first column is the id)")
	f.StringVar(&s.history, "history", "", "campaign history files, comma-separated, ingested with the inputs: the --mapping must map them to the history table")
}

// load reads the template and catalog and applies the overrides. Every
// problem is reported before anything is contacted.
func (s *specFlags) load(name string) (*campaign.Template, *campaign.Catalog, time.Time, time.Time, error) {
	var zero time.Time
	var fsys fs.FS = deploy.Campaigns
	catalogPath, dir := "offers.yaml", "templates"
	if s.templatesDir != "" || s.offers != "" {
		// Files on disk: read through one root so either may be given.
		m := fsMap{}
		if s.offers != "" {
			m["offers.yaml"] = s.offers
		} else {
			m["offers.yaml"] = "@embedded"
		}
		m["templates"] = s.templatesDir
		fsys = m
	}
	tpl, cat, err := campaign.Load(fsys, catalogPath, dir, name)
	if err != nil {
		if s.offers != "" && !strings.HasPrefix(err.Error(), "unknown template") {
			err = fmt.Errorf("--offers %s: %w", s.offers, err)
		}
		return nil, nil, zero, zero, err
	}
	if s.budgetSet {
		if s.budget < 0 {
			return nil, nil, zero, zero, fmt.Errorf("--budget %v is below zero", s.budget)
		}
		tpl.Budget = s.budget
	}
	if s.controlSet {
		tpl.ControlShare = s.controlShare
	}
	if s.expSet {
		tpl.ExploreShare = s.exploreShare
	}
	tpl.Event = s.event
	if err := tpl.Validate(cat); err != nil {
		return nil, nil, zero, zero, fmt.Errorf("template %s with the run's settings: %w", name, err)
	}
	var start, end time.Time
	for _, d := range []struct {
		flag, v string
		t       *time.Time
	}{{"--start", s.start, &start}, {"--end", s.end, &end}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.v)
		if err != nil {
			return nil, nil, zero, zero, fmt.Errorf("%s %q: want a date like 2011-12-01", d.flag, d.v)
		}
		*d.t = t
	}
	if !end.IsZero() && !end.After(start) {
		return nil, nil, zero, zero, fmt.Errorf("--end %s is not after --start %s", s.end, s.start)
	}
	return tpl, cat, start, end, nil
}

// Slug turns an event name into a workflow-ID part: "Christmas 2011" ->
// "christmas-2011".
func Slug(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = nonSlug.ReplaceAllString(s, "-")
	return strings.Trim(s, "-")
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// fsMap is a file system of two entries: the catalog file and the
// templates directory, each on disk or (when empty or "@embedded") built
// in.
type fsMap map[string]string

func (m fsMap) Open(name string) (fs.File, error) {
	if name == "offers.yaml" {
		if p := m["offers.yaml"]; p != "@embedded" {
			return os.Open(p)
		}
		return deploy.Campaigns.Open(name)
	}
	if dir := m["templates"]; dir != "" {
		if rest, ok := strings.CutPrefix(name, "templates"); ok {
			return os.DirFS(dir).Open(strings.TrimPrefix(filepath.ToSlash(rest), "/") + dotIfEmpty(rest))
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return deploy.Campaigns.Open(name)
}

func dotIfEmpty(s string) string {
	if s == "" {
		return "."
	}
	return ""
}
