// Command scale-table reads `make bench-orchestration` output (at least
// three shard counts: one at or below ShardBlocks, ShardBlocks itself and
// one above) and prints, for 10M, 100M and 1B users, the Regenerate
// history, S3 requests and objects of a run extrapolated from the measured
// slopes: docs/PERFORMANCE.md, "Scale".
//
//	make bench-orchestration ORCH_SHARDS=8,64,256,1024 | go run ./scripts/scale-table
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"

	"github.com/promoflow/promoflow/workflows"
)

// point is one shard count's measurement.
type point struct {
	shards                   int
	events, mb, reqs, object float64
}

var (
	runLine = regexp.MustCompile(`^\s*(\d+)\s+run #\d+\s+(\d+)\s+([\d.]+)`)
	s3Line  = regexp.MustCompile(`^\s*(\d+)\s+s3: (\d+) requests .*, (\d+) objects`)
)

func main() {
	blocks := flag.Int("shard-blocks", workflows.DefaultShardBlocks, "ShardBlocks of the measured runs")
	perShard := flag.Int("users-per-shard", 35000, "users a shard holds (docs/PERFORMANCE.md, Sizing shards)")
	maxShards := flag.Int("max-shards", 4096, "most shards a run takes (RegenerateInput.Validate)")
	csvPerUser := flag.Float64("csv-bytes-per-user", 3600, "input bytes a user (the generator: 36 events of about 100 bytes)")
	splitBytes := flag.Float64("split-bytes", workflows.DefaultSplitBytes, "ingest split size")
	flag.Parse()

	pts := map[int]*point{}
	at := func(s string) *point {
		n, _ := strconv.Atoi(s)
		if pts[n] == nil {
			pts[n] = &point{shards: n}
		}
		return pts[n]
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if m := runLine.FindStringSubmatch(sc.Text()); m != nil {
			p := at(m[1])
			p.events, _ = strconv.ParseFloat(m[2], 64)
			p.mb, _ = strconv.ParseFloat(m[3], 64)
		} else if m := s3Line.FindStringSubmatch(sc.Text()); m != nil {
			p := at(m[1])
			p.reqs, _ = strconv.ParseFloat(m[2], 64)
			p.object, _ = strconv.ParseFloat(m[3], 64)
		}
	}
	var shards []int
	for s := range pts {
		shards = append(shards, s)
	}
	slices.Sort(shards)
	lo, mid, hi := pts[shards[0]], pts[*blocks], pts[shards[len(shards)-1]]
	if len(shards) < 3 || mid == nil || lo.shards >= *blocks || hi.shards <= *blocks {
		fmt.Fprintf(os.Stderr, "scale-table: want runs below, at and above %d shards; got %v\n", *blocks, shards)
		os.Exit(2)
	}
	// Regenerate's history: a + perBlock·B + perShard·S, B = min(S, blocks).
	fit := func(f func(*point) float64) func(s int) float64 {
		extra := (f(hi) - f(mid)) / float64(hi.shards-mid.shards)
		perBlock := (f(mid)-f(lo))/float64(mid.shards-lo.shards) - extra
		a := f(lo) - float64(lo.shards)*(perBlock+extra)
		return func(s int) float64 { return a + perBlock*float64(min(s, *blocks)) + extra*float64(s) }
	}
	events := fit(func(p *point) float64 { return p.events })
	mb := fit(func(p *point) float64 { return p.mb })
	reqs := fit(func(p *point) float64 { return p.reqs })
	objects := fit(func(p *point) float64 { return p.object })
	fmt.Printf("measured at %v shards; Regenerate %.0f events / %.2f MB at %d\n", shards, hi.events, hi.mb, hi.shards)
	fmt.Println("| users | shards | blocks | Regenerate events / MB (split lists) | S3 requests | objects | users a block |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, users := range []float64{1e7, 1e8, 1e9} {
		s := min(*maxShards, int(math.Ceil(users/float64(*perShard))))
		b := min(s, *blocks)
		splits := math.Ceil(users * *csvPerUser / *splitBytes)
		// Each finalize input lists a chunk count (about 2 bytes) per split;
		// above SplitsPerChild splits each child adds about 3 events.
		splitMB := 2 * splits * float64(b+1) / (1 << 20)
		children := 0.0
		if splits > float64(workflows.DefaultSplitsPerChild) {
			children = math.Ceil(splits / float64(workflows.DefaultSplitsPerChild))
		}
		fmt.Printf("| %.0e | %d | %d | %.0f / %.1f (%.1f) | %.0f | %.0f | %.0f |\n", users, s, b, events(s)+3*children, mb(s)+splitMB, splitMB,
			reqs(s), objects(s), users/float64(b))
	}
}
