// Package campaign reads the offer catalog and the campaign templates: what
// promotions exist, what they cost, who may get them, and how each kind of
// campaign (weekly, holiday, launch, winback, member) combines them under a
// budget.
package campaign

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Offer kinds. The kind decides the cost model: a share of the basket
// (Rate) or a fixed amount per redemption (Fixed).
const (
	Discount     = "discount"      // percentage off the basket
	Coupon       = "coupon"        // fixed amount off
	FlashPrice   = "flash_price"   // time-limited special price: a share off, short validity
	Gift         = "gift"          // free gift: fixed cost of the gift
	FreeShipping = "free_shipping" // fixed shipping cost absorbed
	MemberPrice  = "member_price"  // members-only share off
	Points       = "points"        // loyalty points worth a share of the basket
	Bundle       = "bundle"        // a share off when buying a set
)

var kinds = map[string]bool{Discount: true, Coupon: true, FlashPrice: true, Gift: true, FreeShipping: true, MemberPrice: true, Points: true, Bundle: true}

// None is the one spelling of "no offer": the offer, channel and source of
// users who get nothing in a plan or a live decision, and the holdout offer
// of users who were not held out.
const None = "none"

// Face is what one redemption of o costs on an order (or basket) worth
// value: the share of it for rate kinds, the fixed amount otherwise. It is
// the offer's one cost model, used by the decision, the evaluation and the
// simulator alike.
func (o Offer) Face(value float64) float64 {
	if RateKind(o.Kind) {
		return o.Rate * value
	}
	return o.Fixed
}

// RateKind reports whether kind costs a share of the basket rather than a
// fixed amount.
func RateKind(kind string) bool {
	switch kind {
	case Discount, FlashPrice, MemberPrice, Points, Bundle:
		return true
	}
	return false
}

// Eligibility says who may receive an offer. Empty lists allow everyone.
type Eligibility struct {
	Segments    []string `yaml:"segments" json:"segments,omitempty"`     // segment names
	Categories  []string `yaml:"categories" json:"categories,omitempty"` // at least one among the user's interests
	MembersOnly bool     `yaml:"members_only" json:"members_only,omitempty"`
	MinOrders   int      `yaml:"min_orders" json:"min_orders,omitempty"`
}

// Caps bound an offer's total use in one campaign. Zero means no cap.
type Caps struct {
	Count int64   `yaml:"count" json:"count,omitempty"`
	Money float64 `yaml:"money" json:"money,omitempty"`
}

// Offer is one promotion of the catalog.
type Offer struct {
	ID          string      `yaml:"id" json:"id"`
	Kind        string      `yaml:"kind" json:"kind"`
	Title       string      `yaml:"title" json:"title,omitempty"`
	Channel     string      `yaml:"channel" json:"channel"`
	Rate        float64     `yaml:"rate" json:"rate,omitempty"`   // share of the basket, for rate kinds
	Fixed       float64     `yaml:"fixed" json:"fixed,omitempty"` // money per redemption, for fixed kinds
	ValidDays   int         `yaml:"valid_days" json:"valid_days"`
	Lift        float64     `yaml:"lift" json:"lift"` // prior incremental purchase probability, used without campaign history
	Eligibility Eligibility `yaml:"eligibility" json:"eligibility"`
	Caps        Caps        `yaml:"caps" json:"caps"`
	// FeaturedCategory restricts the products the offer features to one
	// category (a party bundle features party items); "" features the
	// user's general recommendations.
	FeaturedCategory string `yaml:"featured_category" json:"featured_category,omitempty"`
}

// Catalog is the set of offers, by ID.
type Catalog struct {
	Offers []Offer `yaml:"offers"`
}

// Offer returns the offer with id.
func (c *Catalog) Offer(id string) (Offer, bool) {
	for _, o := range c.Offers {
		if o.ID == id {
			return o, true
		}
	}
	return Offer{}, false
}

// Audience selects the users a campaign considers. Zero fields do not
// restrict.
type Audience struct {
	MinOrders       int      `yaml:"min_orders" json:"min_orders,omitempty"`
	MaxOrders       int      `yaml:"max_orders" json:"max_orders,omitempty"` // 0: no upper bound
	InactiveDaysMin float64  `yaml:"inactive_days_min" json:"inactive_days_min,omitempty"`
	InactiveDaysMax float64  `yaml:"inactive_days_max" json:"inactive_days_max,omitempty"`
	Categories      []string `yaml:"categories" json:"categories,omitempty"` // interests that must match (launch)
	MembersOnly     bool     `yaml:"members_only" json:"members_only,omitempty"`
	Segments        []string `yaml:"segments" json:"segments,omitempty"`
}

// Fairness is the guard on a sensitive attribute: report offer rates per
// group, and optionally bound the largest gap between groups.
type Fairness struct {
	Attribute string  `yaml:"attribute" json:"attribute"`
	MaxGap    float64 `yaml:"max_gap" json:"max_gap,omitempty"` // 0: report only
}

// Approval makes a template wait for a reviewer before publishing.
type Approval struct {
	Required bool          `yaml:"required" json:"required"`
	Deadline time.Duration `yaml:"deadline" json:"deadline,omitempty"` // 0: wait forever
}

// Template is a kind of campaign.
type Template struct {
	Name         string    `yaml:"name" json:"name"`
	Description  string    `yaml:"description" json:"description"`
	Objective    string    `yaml:"objective" json:"objective"` // "profit" or "revenue"
	Budget       float64   `yaml:"budget" json:"budget"`       // money for the whole campaign; 0 means no budget
	ControlShare float64   `yaml:"control_share" json:"control_share"`
	ExploreShare float64   `yaml:"explore_share" json:"explore_share"`
	WindowDays   int       `yaml:"window_days" json:"window_days"` // campaign length
	Audience     Audience  `yaml:"audience" json:"audience"`
	Offers       []string  `yaml:"offers" json:"offers"`
	Margin       float64   `yaml:"margin" json:"margin"`                     // gross margin on incremental revenue
	MaxPerUser   int       `yaml:"max_per_user" json:"max_per_user"`         // offers per user per campaign
	SuppressDays int       `yaml:"suppress_days" json:"suppress_days"`       // skip users promoted within this many days
	Fairness     *Fairness `yaml:"fairness" json:"fairness,omitempty"`       // nil: no sensitive attribute mapped
	Approval     Approval  `yaml:"approval" json:"approval"`                 // human approval before publishing
	Event        string    `yaml:"event" json:"event,omitempty"`             // holiday or launch name, set per run
	Stratify     bool      `yaml:"stratify_control" json:"stratify_control"` // control group stratified by segment
	// HistoryCampaigns is how many of the template's newest evaluated
	// campaigns each decision learns from (history/<template>/); 0 means
	// DefaultHistoryCampaigns.
	HistoryCampaigns int `yaml:"history_campaigns" json:"history_campaigns,omitempty"`
	// MinControl is the fewest users the control group keeps, whatever
	// control_share rounds to (0: no minimum): a campaign without a
	// control group cannot be evaluated. When the audience is too small to
	// hold MinControl users and treat as many, the campaign is not
	// measurable and Unmeasurable says what happens.
	MinControl int `yaml:"min_control" json:"min_control,omitempty"`
	// Unmeasurable is what a campaign that cannot keep MinControl control
	// users does: UnmeasurablePublish (the default) or UnmeasurableApprove.
	Unmeasurable string `yaml:"unmeasurable" json:"unmeasurable,omitempty"`
	// RepeatItems lets the promotion feature products the user already
	// bought (consumables); by default they are left out.
	RepeatItems bool `yaml:"repeat_items" json:"repeat_items,omitempty"`
	// ExcludeOutliers leaves out of the audience the users DBSCAN finds in
	// no dense region of the purchase behaviour (wholesale buyers, bots,
	// coupon abusers): the run clusters them, and they are suppressed
	// with the reason "outlier" (docs/FEATURES.md, "Density clusters").
	ExcludeOutliers bool `yaml:"exclude_outliers" json:"exclude_outliers,omitempty"`
}

// What a campaign too small to measure does (Template.Unmeasurable).
const (
	UnmeasurablePublish = "publish" // publish anyway; the summary and report say it is not measurable
	UnmeasurableApprove = "approve" // wait for a reviewer's approval before publishing
)

// UnmeasurableAction is t.Unmeasurable, UnmeasurablePublish when unset.
func (t *Template) UnmeasurableAction() string {
	if t.Unmeasurable == "" {
		return UnmeasurablePublish
	}
	return t.Unmeasurable
}

// DefaultHistoryCampaigns is the number of past campaigns a decision learns
// from when the template does not say: two months of weekly campaigns.
const DefaultHistoryCampaigns = 8

// LearnFrom is how many past campaigns the decision reads.
func (t *Template) LearnFrom() int {
	if t.HistoryCampaigns == 0 {
		return DefaultHistoryCampaigns
	}
	return t.HistoryCampaigns
}

// LoadCatalog reads and checks a catalog file.
func LoadCatalog(path string) (*Catalog, error) {
	var c Catalog
	if err := decodeFile(path, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Validate reports every problem of the catalog.
func (c *Catalog) Validate() error {
	var errs []error
	seen := map[string]bool{}
	if len(c.Offers) == 0 {
		errs = append(errs, errors.New("no offers"))
	}
	for i, o := range c.Offers {
		where := fmt.Sprintf("offer %d (%s)", i+1, o.ID)
		switch {
		case o.ID == "":
			errs = append(errs, fmt.Errorf("offer %d: no id", i+1))
		case seen[o.ID]:
			errs = append(errs, fmt.Errorf("%s: id used twice", where))
		}
		seen[o.ID] = true
		if !kinds[o.Kind] {
			errs = append(errs, fmt.Errorf("%s: kind %q, want one of %s", where, o.Kind, strings.Join(sortedKinds(), ", ")))
		}
		if RateKind(o.Kind) && (o.Rate <= 0 || o.Rate >= 1) {
			errs = append(errs, fmt.Errorf("%s: rate %v, want (0, 1) for kind %s", where, o.Rate, o.Kind))
		}
		if !RateKind(o.Kind) && kinds[o.Kind] && o.Fixed <= 0 {
			errs = append(errs, fmt.Errorf("%s: fixed %v, want > 0 for kind %s", where, o.Fixed, o.Kind))
		}
		if o.Lift < -1 || o.Lift > 1 {
			errs = append(errs, fmt.Errorf("%s: lift %v, want [-1, 1]", where, o.Lift))
		}
		if o.Channel == "" {
			errs = append(errs, fmt.Errorf("%s: no channel", where))
		}
		if o.Caps.Count < 0 || o.Caps.Money < 0 {
			errs = append(errs, fmt.Errorf("%s: negative cap", where))
		}
	}
	return errors.Join(errs...)
}

// LoadTemplate reads a template file and checks it against the catalog.
func LoadTemplate(path string, cat *Catalog) (*Template, error) {
	var t Template
	if err := decodeFile(path, &t); err != nil {
		return nil, err
	}
	if err := t.Validate(cat); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &t, nil
}

// Validate reports every problem of the template.
func (t *Template) Validate(cat *Catalog) error {
	var errs []error
	if t.Name == "" {
		errs = append(errs, errors.New("no name"))
	}
	if t.Objective != "profit" && t.Objective != "revenue" {
		errs = append(errs, fmt.Errorf("objective %q, want profit or revenue", t.Objective))
	}
	if t.Budget < 0 {
		errs = append(errs, fmt.Errorf("budget %v below zero", t.Budget))
	}
	if t.ControlShare < 0 || t.ControlShare >= 0.5 {
		errs = append(errs, fmt.Errorf("control_share %v, want [0, 0.5)", t.ControlShare))
	}
	if t.ExploreShare < 0 || t.ExploreShare > 0.5 {
		errs = append(errs, fmt.Errorf("explore_share %v, want [0, 0.5]", t.ExploreShare))
	}
	if t.Margin <= 0 || t.Margin > 1 {
		errs = append(errs, fmt.Errorf("margin %v, want (0, 1]", t.Margin))
	}
	if len(t.Offers) == 0 {
		errs = append(errs, errors.New("no offers"))
	}
	for _, id := range t.Offers {
		if _, ok := cat.Offer(id); !ok {
			errs = append(errs, fmt.Errorf("offer %q is not in the catalog", id))
		}
	}
	if t.HistoryCampaigns < 0 {
		errs = append(errs, fmt.Errorf("history_campaigns %d below zero", t.HistoryCampaigns))
	}
	if t.MinControl < 0 {
		errs = append(errs, fmt.Errorf("min_control %d below zero", t.MinControl))
	}
	if t.Unmeasurable != "" && t.Unmeasurable != UnmeasurablePublish && t.Unmeasurable != UnmeasurableApprove {
		errs = append(errs, fmt.Errorf("unmeasurable %q, want %s or %s", t.Unmeasurable, UnmeasurablePublish, UnmeasurableApprove))
	}
	if t.MaxPerUser < 0 || t.MaxPerUser > 1 {
		errs = append(errs, fmt.Errorf("max_per_user %d: a plan gives each user at most one offer, want 0 or 1", t.MaxPerUser))
	}
	if t.SuppressDays < 0 || t.WindowDays < 0 {
		errs = append(errs, errors.New("negative suppress_days or window_days"))
	}
	if t.Fairness != nil && (t.Fairness.MaxGap < 0 || t.Fairness.MaxGap >= 1) {
		errs = append(errs, fmt.Errorf("fairness: max_gap %v, want [0, 1)", t.Fairness.MaxGap))
	}
	if t.Fairness != nil && t.Fairness.Attribute == "" {
		errs = append(errs, errors.New("fairness: no attribute"))
	}
	return errors.Join(errs...)
}

// decodeFile decodes YAML strictly: an unknown key is an error with its
// line, so a typo never silently drops a setting.
func decodeFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return decode(data, path, v)
}

func decode(data []byte, path string, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func sortedKinds() []string {
	return []string{Bundle, Coupon, Discount, FlashPrice, FreeShipping, Gift, MemberPrice, Points}
}

// ParseCatalog reads and checks a catalog from data; name is for errors.
func ParseCatalog(data []byte, name string) (*Catalog, error) {
	var c Catalog
	if err := decode(data, name, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

// ParseTemplate reads a template from data and checks it against cat.
func ParseTemplate(data []byte, name string, cat *Catalog) (*Template, error) {
	var t Template
	if err := decode(data, name, &t); err != nil {
		return nil, err
	}
	if err := t.Validate(cat); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &t, nil
}

// TemplateNames lists the templates of a directory (files NAME.yaml), sorted.
func TemplateNames(fsys fs.FS, dir string) ([]string, error) {
	matches, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range matches {
		names = append(names, strings.TrimSuffix(path.Base(m), ".yaml"))
	}
	sort.Strings(names)
	return names, nil
}

// Load reads the catalog at catalogPath and template NAME from
// dir/NAME.yaml, both in fsys. An unknown template's error lists the known
// ones.
func Load(fsys fs.FS, catalogPath, dir, name string) (*Template, *Catalog, error) {
	data, err := fs.ReadFile(fsys, catalogPath)
	if err != nil {
		return nil, nil, fmt.Errorf("offer catalog: %w", err)
	}
	cat, err := ParseCatalog(data, catalogPath)
	if err != nil {
		return nil, nil, err
	}
	known, err := TemplateNames(fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(known, name) {
		return nil, nil, fmt.Errorf("unknown template %q (known: %s)", name, strings.Join(known, ", "))
	}
	p := path.Join(dir, name+".yaml")
	data, err = fs.ReadFile(fsys, p)
	if err != nil {
		return nil, nil, err
	}
	t, err := ParseTemplate(data, p, cat)
	if err != nil {
		return nil, nil, err
	}
	if t.Name != name {
		return nil, nil, fmt.Errorf("%s names itself %q", p, t.Name)
	}
	return t, cat, nil
}

// Resolve returns the offers of ids, in that order; unknown ids are
// skipped (Template.Validate reports them).
func (c *Catalog) Resolve(ids []string) []Offer {
	var out []Offer
	for _, id := range ids {
		if o, ok := c.Offer(id); ok {
			out = append(out, o)
		}
	}
	return out
}
