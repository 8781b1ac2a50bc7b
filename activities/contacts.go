package activities

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/shard"
)

// ContactsPrefix holds the contact lists of published campaigns
// (layout.ContactsPrefix).
const ContactsPrefix = layout.ContactsPrefix

// ContactsKey is where runs before partitioned contact lists recorded the
// contacts of a campaign starting at start (layout.ContactsLegacy); later
// runs still read such lists.
func ContactsKey(start time.Time, campaign string) string {
	return layout.ContactsLegacy(start, campaign)
}

// recentContacts lists the contact lists of campaigns started within days
// before start (campaign itself excluded, so a re-run is not suppressed by
// itself), in name order: one key per campaign, its partitioned list
// (layout.ContactsList) when it has one, else its legacy object.
func (a *Activities) recentContacts(ctx context.Context, campaign string, start time.Time, days int) ([]string, error) {
	all, err := a.Store.List(ctx, ContactsPrefix)
	if err != nil {
		return nil, err
	}
	slices.Sort(all)
	from := start.UTC().AddDate(0, 0, -days).Format("2006-01-02")
	to := start.UTC().Format("2006-01-02")
	byName := map[string]string{}
	for _, k := range all {
		name, dir, _, ok := layout.ParseContacts(k)
		if !ok {
			continue
		}
		date, camp, ok := strings.Cut(name, "_")
		if !ok || camp == campaign || date < from || date > to {
			continue
		}
		// A partitioned list wins over a legacy one of the same campaign
		// (it was published later); of two partitioned ones, which
		// RecordContacts does not leave, the last in key order.
		if _, seen := byName[name]; !seen || dir != "" {
			byName[name] = k
		}
	}
	keys := make([]string, 0, len(byName))
	for _, k := range byName {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// eachContact calls fn with every user id of a contact list (a
// recentContacts key) that falls in the shards of b among n. Of a
// partitioned list of p partitions it reads only the partitions whose
// users can be in b: a user of partition j (hash mod p) is in shard i
// (hash mod n) only if j and i agree mod gcd(p, n), so with p == n a
// shard reads its own partition alone.
func (a *Activities) eachContact(ctx context.Context, key string, b shard.Block, n int, fn func(string)) error {
	_, dir, p, ok := layout.ParseContacts(key)
	if !ok || dir == "" {
		return a.eachIDIn(ctx, key, b, n, fn)
	}
	g := gcd(p, n)
	for j := range p {
		if !blockHasResidue(b, j%g, g) {
			continue
		}
		if err := a.eachIDIn(ctx, layout.ContactsPart(dir, j), b, n, fn); err != nil {
			return err
		}
	}
	return nil
}

// blockHasResidue reports whether a shard of b is r mod g.
func blockHasResidue(b shard.Block, r, g int) bool {
	if b.Len() >= g {
		return true
	}
	for i := b.From; i < b.To; i++ {
		if i%g == r {
			return true
		}
	}
	return false
}

func gcd(x, y int) int {
	for y != 0 {
		x, y = y, x%y
	}
	return x
}

// eachID calls fn with every user id of a list object that falls in shard
// i of n (eachIDIn).
func (a *Activities) eachID(ctx context.Context, key string, i, n int, fn func(string)) error {
	return a.eachIDIn(ctx, key, shard.Block{From: i, To: i + 1}, n, fn)
}

// eachIDIn calls fn with every user id of a list object (one id per line,
// or the first column of a CSV; a "user_id" header line is skipped) that
// falls in the shards of b among n.
func (a *Activities) eachIDIn(ctx context.Context, key string, b shard.Block, n int, fn func(string)) error {
	data, err := a.Store.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("user list %s: %w", key, err)
	}
	var r io.Reader = bytes.NewReader(data)
	if strings.HasSuffix(key, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return &ingest.BadInputError{Source: key, Msg: err.Error()}
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		id, _, _ := strings.Cut(sc.Text(), ",")
		id = strings.Trim(strings.TrimSpace(strings.TrimPrefix(id, "\ufeff")), `"`)
		if id == "" || (line == 1 && id == "user_id") {
			continue
		}
		if s := shard.Of(id, n); s >= b.From && s < b.To {
			fn(id)
		}
	}
	if err := sc.Err(); err != nil {
		return &ingest.BadInputError{Source: key, Line: line + 1, Msg: err.Error()}
	}
	return nil
}

// RecordContactsInput names a published campaign's plan rows: the run's
// per-shard plan rows (layout.Scores of RunID, Shards shards), or, from
// workflows before partitioned contact lists, ScoreKeys.
type RecordContactsInput struct {
	Campaign  string
	Start     time.Time
	RunID     string
	Shards    int
	ScoreKeys []string `json:",omitempty"`
}

// RecordContacts writes the campaign's contacted users (treated, not
// control) for the suppression of later campaigns: partitioned by shard,
// shard i's plan rows to partition i of layout.ContactsDir, then the list's
// key (layout.ContactsList), then removes the campaign's lists of other
// partition counts (an earlier publication). It returns the list's key.
// Given ScoreKeys instead of a run, it writes the legacy one object.
func (a *Activities) RecordContacts(ctx context.Context, in RecordContactsInput) (_ string, err error) {
	defer final(&err)
	if in.Shards == 0 {
		var buf bytes.Buffer
		for i, key := range in.ScoreKeys {
			if err := a.contacted(ctx, key, &buf); err != nil {
				return "", fmt.Errorf("shard %d: %w", i, err)
			}
		}
		key := ContactsKey(in.Start, in.Campaign)
		return key, a.Store.Put(ctx, key, buf.Bytes())
	}
	name := layout.ContactsName(in.Start, in.Campaign)
	dir := layout.ContactsDir(name, in.Shards)
	for i := range in.Shards {
		var buf bytes.Buffer
		if err := a.contacted(ctx, layout.Scores(in.RunID, i), &buf); err != nil {
			return "", fmt.Errorf("shard %d: %w", i, err)
		}
		if err := a.Store.Put(ctx, layout.ContactsPart(dir, i), buf.Bytes()); err != nil {
			return "", err
		}
	}
	key := layout.ContactsList(in.Start, in.Campaign, in.Shards)
	if err := a.Store.Put(ctx, key, nil); err != nil {
		return "", err
	}
	others, err := a.Store.List(ctx, layout.ContactsPrefix+name+".of=")
	if err != nil {
		return "", err
	}
	for _, k := range others {
		if n2, d2, n, ok := layout.ParseContacts(k); ok && n2 == name && n != in.Shards {
			if _, err := a.Store.DeletePrefix(ctx, k); err != nil {
				return "", err
			}
			if _, err := a.Store.DeletePrefix(ctx, d2); err != nil {
				return "", err
			}
		}
	}
	return key, nil
}

// contacted appends the contacted users of the plan rows at key to buf,
// one a line.
func (a *Activities) contacted(ctx context.Context, key string, buf *bytes.Buffer) error {
	return a.readArrow(ctx, key, plan.Schema, func(rec arrow.Record) error {
		rows, err := plan.Rows(rec)
		for _, r := range rows {
			if !r.Control && r.Offer != campaign.None {
				buf.WriteString(r.UserID)
				buf.WriteByte('\n')
			}
		}
		return err
	})
}
