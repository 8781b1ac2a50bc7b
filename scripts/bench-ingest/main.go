// Command bench-ingest measures ingest on this machine: it generates
// synthetic events (internal/synth) into a CSV file, then, in a fresh
// process, ingests the file through internal/ingest.Local (the plan,
// stage, finalize and rejects steps the activities run) and prints one
// JSON line: events, seconds, rows/s, CPU seconds, rows per CPU second,
// CPU use (CPU seconds per second) and the process's peak RSS (VmHWM).
// Splits and then partitions are processed -parallel at once, as a
// worker runs activities; -gzip-whole reads a gzip file as one split, the
// path before compressed files were cut into chunks.
//
//	bench-ingest -gen -users 134400 -out events.csv   # ~5,000,000 events
//	bench-ingest -in events.csv -dir work/            # prints the line
//	bench-ingest -in events.csv.gz -dir work/ [-gzip-whole]
//
// `make bench-ingest` runs both at about 1 and 5 million events with the
// same split and chunk sizes: staging memory does not grow with the file;
// the finalize step's duplicate set grows with the rows of one shard.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ingest:", err)
		os.Exit(1)
	}
}

func run() error {
	gen := flag.Bool("gen", false, "generate -users users into -out and exit")
	users := flag.Int("users", 134400, "users to generate (about 37 events each)")
	seed := flag.Int64("seed", 1, "generator seed")
	out := flag.String("out", "", "generated CSV file")
	in := flag.String("in", "", "CSV file to ingest")
	dir := flag.String("dir", "", "ingest output folder (emptied first)")
	shards := flag.Int("shards", workflows.DefaultShards, "user shards")
	splitBytes := flag.Int64("split-bytes", workflows.DefaultSplitBytes, "byte-range split size (the workflow's default)")
	chunkRows := flag.Int("chunk-rows", workflows.DefaultChunkRows, "records per staged chunk (the workflow's default)")
	parallel := flag.Int("parallel", runtime.GOMAXPROCS(0), "splits, then partitions, processed at once (as activities in a worker)")
	gzipWhole := flag.Bool("gzip-whole", false, "read a gzip file as one split (the path of files below one split) instead of cutting it into chunks")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the ingest to this file (go tool pprof)")
	flag.Parse()

	if *gen {
		if *out == "" {
			return fmt.Errorf("-gen needs -out")
		}
		st, err := synth.WriteFile(*out, synth.Config{Users: *users, Seed: *seed})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "generated %d events of %d users into %s\n", st.Events, st.Users, *out)
		return nil
	}
	if *in == "" || *dir == "" {
		return fmt.Errorf("want -gen -out FILE, or -in FILE -dir DIR")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := os.RemoveAll(*dir); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	info, err := os.Stat(*in)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := ingest.Local(context.Background(), []string{*in}, ingest.LocalOptions{
		Shards: *shards, SplitBytes: *splitBytes, ChunkRows: *chunkRows, Dir: *dir,
		Parallel: *parallel, GzipWhole: *gzipWhole,
	})
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	cpu, err := cpuSeconds()
	if err != nil {
		return err
	}
	r := res[0]
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	line := map[string]any{
		"file":           *in,
		"file_mb":        float64(info.Size()) / (1 << 20),
		"rows_read":      r.RowsRead,
		"accepted":       r.Accepted,
		"duplicates":     r.Duplicates,
		"rejected":       r.Rejected,
		"splits":         r.Splits,
		"shards":         *shards,
		"split_mb":       float64(*splitBytes) / (1 << 20),
		"chunk_rows":     *chunkRows,
		"seconds":        round(secs),
		"rows_per_s":     int64(float64(r.RowsRead) / secs),
		"cpu_seconds":    round(cpu),
		"rows_per_cpu_s": int64(float64(r.RowsRead) / cpu),
		"peak_rss_mb":    round(float64(hwm) / (1 << 20)),
		"gomaxprocs":     runtime.GOMAXPROCS(0),
		"parallel":       *parallel,
		"gzip_whole":     *gzipWhole,
		"cpu_use":        round(cpu / secs), // cores busy on average
		"in_one_process": true,
	}
	return json.NewEncoder(os.Stdout).Encode(line)
}

// peakRSS is the process's resident set high-water mark, in bytes.
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// cpuSeconds is the user and system CPU time of the process so far: on a
// shared machine, rows per CPU second vary less than rows per second.
func cpuSeconds() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), nil
}

func round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
