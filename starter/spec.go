package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promoflow/promoflow/deploy"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/mapping"
	"github.com/promoflow/promoflow/workflows"
)

// campaignFlags are the flags that define a campaign, one set shared by
// `starter run` and `starter schedule create|update`: the template and
// catalog, their overrides, the mapping, opt-out lists, campaign history,
// approval, and the run parameters. build turns them into the
// workflows.RegenerateInput both commands start: a run adds its run id and
// inputs; a schedule adds its input prefix, and each scheduled run gets its
// run id and campaign when it starts.
type campaignFlags struct {
	schedule bool // registered for a schedule: no --start, --end, --event, --cutoff

	template, templatesDir, offers string
	mappingFile, dataset           string
	budget, controlShare, explore  floatFlag
	windowDays                     intFlag
	event, start, end, cutoff      string
	optOut, history                string
	propensity                     string
	shards, k, horizon             int
	window, shardBlocks            int
	topics                         int
	seed                           int64
	approval                       bool
	denseClusters, excludeOutliers bool
	denseEps                       float64
	approvalDeadline               time.Duration
	futureTolerance                time.Duration
	evaluate                       bool
}

// floatFlag is a number flag that remembers whether it was given and
// accepts only a whole, finite number ("5000abc" is an error).
type floatFlag struct {
	v   float64
	set bool
}

func (f *floatFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatFloat(f.v, 'g', -1, 64)
}

func (f *floatFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%q is not a number", s)
	}
	f.v, f.set = v, true
	return nil
}

// intFlag is an integer flag that remembers whether it was given.
type intFlag struct {
	v   int
	set bool
}

func (f *intFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.Itoa(f.v)
}

func (f *intFlag) Set(s string) error {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	f.v, f.set = v, true
	return nil
}

// register adds the campaign flags to fs; schedule selects the set of
// `schedule create|update` (each run's window starts when it decides).
func (c *campaignFlags) register(fs *flag.FlagSet, schedule bool) {
	c.schedule = schedule
	fs.StringVar(&c.template, "template", "weekly", "campaign template")
	fs.StringVar(&c.templatesDir, "templates-dir", "", "directory of campaign templates NAME.yaml (default: the templates built in, deploy/templates)")
	fs.StringVar(&c.offers, "offers", "", "offer catalog YAML (default: the catalog built in, deploy/offers.yaml)")
	fs.StringVar(&c.mappingFile, "mapping", "", "mapping YAML turning the inputs (and history) into canonical tables (docs/DATA.md); read now, its text goes with every run; default: inputs are canonical events")
	fs.StringVar(&c.dataset, "dataset", "local", "dataset name under raw/ for uploaded files")
	fs.Var(&c.budget, "budget", "campaign budget, overriding the template's (0: no budget)")
	fs.Var(&c.controlShare, "control-share", "share of eligible users held out as control, overriding the template's")
	fs.Var(&c.explore, "explore-share", "share of treatable users given a random eligible offer, overriding the template's")
	fs.Var(&c.windowDays, "window-days", "campaign length in days, overriding the template's window_days")
	fs.StringVar(&c.optOut, "opt-out", "", "opted-out users, comma-separated: local files (uploaded to raw/<dataset>/), s3://bucket/key or raw/... keys, or \"/\"-terminated prefixes whose files are listed when each run starts (one user id per line, or a CSV whose first column is the id)")
	fs.StringVar(&c.history, "history", "", "campaign history, comma-separated: local files, s3:// or raw/... keys, or \"/\"-terminated prefixes listed when each run starts; ingested with the inputs: the --mapping must map them to the history table")
	fs.IntVar(&c.shards, "shards", workflows.DefaultShards, "user shards (about one per 35,000 users)")
	fs.IntVar(&c.window, "window", workflows.DefaultWindow, "activities of a fan-out in flight at once (about 2 per core of the workers)")
	fs.IntVar(&c.shardBlocks, "shard-blocks", workflows.DefaultShardBlocks, "most activities one fan-out over shards starts; more shards are handled in blocks")
	fs.IntVar(&c.k, "k", 6, "segments")
	fs.Int64Var(&c.seed, "seed", 42, "run seed: same inputs and seed, same plan")
	fs.IntVar(&c.horizon, "horizon-days", 28, "propensity label window after the cutoff, in days")
	fs.IntVar(&c.topics, "topics", 0, "fit this many LDA topics over users' texts after segmenting (summary and report; docs/FEATURES.md, \"Topics\"); 0: off")
	fs.StringVar(&c.propensity, "propensity", workflows.ModelBoost, "propensity model: "+workflows.ModelBoost+" (gradient-boosted trees) or "+workflows.ModelForest+" (a random forest grown per shard)")
	fs.BoolVar(&c.denseClusters, "dense-clusters", false, "cluster the users by density (DBSCAN on the segment features): dense clusters and outliers in the summary and report")
	fs.Float64Var(&c.denseEps, "dense-eps", 0, "with --dense-clusters: DBSCAN's radius in standardized units; 0 chooses it at the knee of the sample's k-distances")
	fs.BoolVar(&c.excludeOutliers, "exclude-outliers", false, "leave the density outliers out of the audience (the template's exclude_outliers; implies --dense-clusters)")
	fs.BoolVar(&c.approval, "require-approval", false, "wait for `starter approve` (or reject) before publishing (a template with approval.required always does)")
	fs.DurationVar(&c.approvalDeadline, "approval-deadline", 0, "with approval: give up (status expired, nothing published) after this long; 0: the template's deadline, else wait forever")
	fs.DurationVar(&c.futureTolerance, "future-tolerance", workflows.DefaultFutureTolerance, "events later than the run's start plus this are rejected (\"ts after the run's start\"), not taken as the run's end; negative: no limit")
	if schedule {
		fs.BoolVar(&c.evaluate, "evaluate", true, "evaluate each campaign against its control group when its window ends")
		return
	}
	fs.BoolVar(&c.evaluate, "evaluate", false, "evaluate the campaign against its control group when its window ends (a workflow <campaign>-evaluation)")
	fs.StringVar(&c.event, "event", "", `holiday or event name, e.g. "Christmas 2011": the run's workflow ID becomes <template>-<event-slug>`)
	fs.StringVar(&c.start, "start", "", "campaign start date (2006-01-02, or an RFC 3339 time); default: when the decision runs")
	fs.StringVar(&c.end, "end", "", "campaign end date (2006-01-02, or an RFC 3339 time); default: start + the window")
	fs.StringVar(&c.cutoff, "cutoff", "", "training cutoff date (2006-01-02); default horizon-days before the last event")
}

// resolver turns a file reference of --opt-out or --history into a bucket
// key: a local file is uploaded, a key or prefix checked. prefixOK says
// whether a "/"-terminated prefix is allowed.
type resolver func(ref string, prefixOK bool) (string, error)

// build is prepare, then resolveRefs: the regeneration input the flags
// define, with no run id and no inputs, and Defaults not yet applied.
// Every problem with the flags is reported before resolve is called.
func (c *campaignFlags) build(resolve resolver) (workflows.RegenerateInput, error) {
	in, err := c.prepare()
	if err != nil {
		return in, err
	}
	return in, c.resolveRefs(&in, resolve)
}

// prepare checks every flag and reads the template, catalog and mapping
// files, contacting nothing: the input without its opt-out and history
// keys.
func (c *campaignFlags) prepare() (workflows.RegenerateInput, error) {
	var in workflows.RegenerateInput
	spec, catalog, err := c.load()
	if err != nil {
		return in, err
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"--shards", c.shards}, {"--k", c.k}, {"--horizon-days", c.horizon}, {"--window", c.window}, {"--shard-blocks", c.shardBlocks}} {
		if n.v < 1 {
			return in, fmt.Errorf("%s %d: want at least 1", n.flag, n.v)
		}
	}
	if c.topics != 0 && (c.topics < 2 || c.topics > 100) {
		return in, fmt.Errorf("--topics %d: want 0 (off) or 2..100", c.topics)
	}
	if c.propensity != workflows.ModelBoost && c.propensity != workflows.ModelForest {
		return in, fmt.Errorf("--propensity %q: want %s or %s", c.propensity, workflows.ModelBoost, workflows.ModelForest)
	}
	if c.approvalDeadline < 0 {
		return in, fmt.Errorf("--approval-deadline %v is below zero", c.approvalDeadline)
	}
	var mappingText string
	if c.mappingFile != "" {
		b, err := os.ReadFile(c.mappingFile)
		if err != nil {
			return in, fmt.Errorf("--mapping: %w", err)
		}
		if _, err := mapping.Parse(b); err != nil {
			return in, fmt.Errorf("--mapping %s: %w", c.mappingFile, err)
		}
		mappingText = string(b)
	}
	var start, end, cutoff time.Time
	for _, d := range []struct {
		flag, v string
		t       *time.Time
	}{{"--start", c.start, &start}, {"--end", c.end, &end}, {"--cutoff", c.cutoff, &cutoff}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.v)
		if err != nil {
			// A moment, to repeat a scheduled run's window exactly.
			if t, err = time.Parse(time.RFC3339, d.v); err != nil {
				return in, fmt.Errorf("%s %q: want a date like 2011-12-01 (or an RFC 3339 time)", d.flag, d.v)
			}
		}
		*d.t = t.UTC()
	}
	if !end.IsZero() && !end.After(start) {
		return in, fmt.Errorf("--end %s is not after --start %s", c.end, c.start)
	}
	optOut, history := splitList(c.optOut), splitList(c.history)
	if c.history != "" && mappingText == "" {
		return in, errors.New("--history needs a --mapping that maps the history files to the history table")
	}
	// Local files must exist before anything is uploaded or started.
	for _, ref := range append(slices.Clone(optOut), history...) {
		if isBucketRef(ref) {
			continue
		}
		if _, err := os.Stat(ref); err != nil {
			return in, fmt.Errorf("%s: not a local file, an s3:// URL or a raw/ key: %w", ref, err)
		}
	}
	return workflows.RegenerateInput{
		Template: c.template, Mapping: mappingText,
		Shards: c.shards, Window: c.window, ShardBlocks: c.shardBlocks, Seed: c.seed, K: c.k, HorizonDays: c.horizon, Cutoff: cutoff, Propensity: c.propensity, Topics: c.topics,
		Spec: spec, Catalog: catalog, Start: start, End: end,
		Approval:        workflows.ApprovalPolicy{Required: c.approval, Deadline: c.approvalDeadline},
		FutureTolerance: c.futureTolerance,
		Evaluate:        c.evaluate,
		DenseClusters:   c.denseClusters, DenseEps: c.denseEps,
	}, nil
}

// resolveRefs sets in's OptOut and History to the bucket keys (or
// prefixes) of --opt-out and --history, uploading local files.
func (c *campaignFlags) resolveRefs(in *workflows.RegenerateInput, resolve resolver) error {
	for _, l := range []struct {
		refs []string
		keys *[]string
	}{{splitList(c.optOut), &in.OptOut}, {splitList(c.history), &in.History}} {
		for _, ref := range l.refs {
			key, err := resolve(ref, true)
			if err != nil {
				return err
			}
			*l.keys = append(*l.keys, key)
		}
	}
	return nil
}

// isBucketRef reports whether ref names an object or prefix in the bucket
// (s3://bucket/key, or a raw/ key that is not a local file).
func isBucketRef(ref string) bool {
	if strings.HasPrefix(ref, "s3://") {
		return true
	}
	if !strings.HasPrefix(ref, layout.RawRoot) {
		return false
	}
	_, err := os.Stat(ref)
	return err != nil
}

// load reads the template and catalog and applies the overrides.
func (c *campaignFlags) load() (*campaign.Template, *campaign.Catalog, error) {
	var fsys fs.FS = deploy.Campaigns
	catalogPath, dir := "offers.yaml", "templates"
	if c.templatesDir != "" || c.offers != "" {
		// Files on disk: read through one root so either may be given.
		m := fsMap{}
		if c.offers != "" {
			m["offers.yaml"] = c.offers
		} else {
			m["offers.yaml"] = "@embedded"
		}
		m["templates"] = c.templatesDir
		fsys = m
	}
	tpl, cat, err := campaign.Load(fsys, catalogPath, dir, c.template)
	if err != nil {
		if c.offers != "" && !strings.HasPrefix(err.Error(), "unknown template") {
			err = fmt.Errorf("--offers %s: %w", c.offers, err)
		}
		return nil, nil, err
	}
	if c.budget.set {
		if c.budget.v < 0 {
			return nil, nil, fmt.Errorf("--budget %v is below zero", c.budget.v)
		}
		tpl.Budget = c.budget.v
	}
	if c.controlShare.set {
		tpl.ControlShare = c.controlShare.v
	}
	if c.explore.set {
		tpl.ExploreShare = c.explore.v
	}
	if c.windowDays.set {
		if c.windowDays.v < 1 {
			return nil, nil, fmt.Errorf("--window-days %d: want at least 1", c.windowDays.v)
		}
		tpl.WindowDays = c.windowDays.v
	}
	tpl.Event = c.event
	if c.excludeOutliers {
		tpl.ExcludeOutliers = true
	}
	if err := tpl.Validate(cat); err != nil {
		return nil, nil, fmt.Errorf("template %s with the given settings: %w", c.template, err)
	}
	return tpl, cat, nil
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
