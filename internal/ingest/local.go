package ingest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/mapping"
)

// LocalOptions configure Local.
type LocalOptions struct {
	Mapping    *mapping.Mapping // nil means mapping.Canonical()
	Shards     int
	SplitBytes int64
	ChunkRows  int
	Dir        string // output: <table>/<partition>/<source>.arrow and rejects/<source>.csv
	Mem        memory.Allocator
	// GzipWhole reads a compressed file as one split (the path of files
	// below one split) instead of cutting it into chunks (File.Chunk).
	GzipWhole bool
	// Parallel is how many splits, and then partitions, are processed at
	// once, as activities are in a worker (1 when zero). Results do not
	// depend on it.
	Parallel int
}

// Local ingests local files in one process, one step after another: the
// same plan, stage, finalize and rejects steps the workflow fans out over
// activities. Tests, fuzzing and benchmarks use it; its results equal the
// workflow's. Sources are named by position and table, as the workflow
// names them.
func Local(ctx context.Context, paths []string, opt LocalOptions) ([]Result, error) {
	m := opt.Mapping
	if m == nil {
		m = mapping.Canonical()
	}
	if opt.Mem == nil {
		opt.Mem = memory.DefaultAllocator
	}
	type source struct {
		file   *File
		prog   *mapping.Program
		name   string
		splits []Split
		chunks []int
	}
	var sources []*source
	for i, path := range paths {
		specs := m.Match(path)
		if len(specs) == 0 {
			return nil, &BadInputError{Source: path, Msg: "no source of the mapping matches this file name"}
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		for _, s := range specs {
			f, err := NewFile(path, info.Size(), s, localOpener(path))
			if err != nil {
				return nil, err
			}
			f.Mem = opt.Mem
			prog, err := f.Compile(ctx, s)
			if err != nil {
				return nil, err
			}
			name := fmt.Sprintf("%03d", i)
			if len(specs) > 1 {
				name += "-" + s.Name
			}
			var splits []Split
			if f.Gzip && !opt.GzipWhole {
				// Check first: a wrong mapping fails before the file is copied.
				if _, err := f.Check(ctx, prog, Whole()[0]); err != nil {
					return nil, err
				}
				var blocked bool
				if splits, blocked, err = f.PlanBlocks(ctx, opt.SplitBytes); err != nil {
					return nil, err
				}
				if blocked {
					sources = append(sources, &source{file: f, prog: prog, name: name, splits: splits})
					continue
				}
				dir := filepath.Join(opt.Dir, "chunks", name)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, err
				}
				f.OpenChunk = localChunks
				splits, err = f.Chunk(ctx, opt.SplitBytes, dir, func(_ context.Context, sp Split, path string) (string, error) {
					key := filepath.Join(dir, fmt.Sprintf("split-%04d.text", sp.Index))
					return key, os.Rename(path, key)
				})
				if err != nil {
					return nil, err
				}
			} else {
				if splits, err = f.Plan(ctx, opt.SplitBytes); err != nil {
					return nil, err
				}
				if _, err := f.Check(ctx, prog, splits[0]); err != nil {
					return nil, err
				}
			}
			sources = append(sources, &source{file: f, prog: prog, name: name, splits: splits})
		}
	}
	staged := func(src string, sp, c int, what string) string {
		return filepath.Join(opt.Dir, "staged", fmt.Sprintf("%s-%04d-%05d-%s.arrow", src, sp, c, what))
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, "staged"), 0o755); err != nil {
		return nil, err
	}
	results := make([]Result, len(sources))
	type job struct{ si, sp int }
	var jobs []job
	for si, s := range sources {
		results[si] = Result{Source: s.file.Name, Name: s.name, Table: s.prog.Table.Name, Format: s.file.Format, Splits: len(s.splits)}
		for sp := range s.splits {
			jobs = append(jobs, job{si, sp})
		}
	}
	states := make([]StageState, len(jobs))
	err := parallel(len(jobs), opt.Parallel, func(i int) error {
		s, sp := sources[jobs[i].si], jobs[i].sp
		rd, closeFn, err := s.file.Reader(ctx, s.splits[sp], Position{}, s.prog)
		if err != nil {
			return err
		}
		defer closeFn()
		dir, err := os.MkdirTemp(opt.Dir, "split-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg := StageConfig{Program: s.prog, Shards: opt.Shards, ChunkRows: opt.ChunkRows, Dir: dir, Mem: opt.Mem, Source: s.file.Name}
		states[i], err = Stage(ctx, rd, cfg, StageState{}, func(c Chunk, _ StageState) error {
			for p, path := range c.Parts {
				if err := os.Rename(path, staged(s.name, sp, c.Index, fmt.Sprint(p))); err != nil {
					return err
				}
			}
			return os.Rename(c.Rejects, staged(s.name, sp, c.Index, "rejects"))
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, j := range jobs { // in split order
		s, r := sources[j.si], &results[j.si]
		s.chunks = append(s.chunks, states[i].Chunks)
		r.RowsRead += states[i].Counts.RowsRead
		r.NoUser += states[i].Counts.NoUser
	}
	var tables []string
	members := map[string][]int{}
	for si, s := range sources {
		t := s.prog.Table.Name
		if members[t] == nil {
			tables = append(tables, t)
		}
		members[t] = append(members[t], si)
	}
	type part struct {
		t       string
		p       int
		rejects [][]byte // per member of the table
		late    []bool   // the member has late rejects
		counts  []FinalCounts
	}
	var parts []*part
	for _, t := range tables {
		for p := 0; p <= opt.Shards; p++ {
			parts = append(parts, &part{t: t, p: p})
		}
	}
	err = parallel(len(parts), opt.Parallel, func(i int) error {
		t, p := parts[i].t, parts[i].p
		var progs []*mapping.Program
		for _, si := range members[t] {
			progs = append(progs, sources[si].prog)
		}
		dir, err := os.MkdirTemp(opt.Dir, "final-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fin, err := NewFinalizer(progs[0].Table, progs, dir, opt.Mem)
		if err != nil {
			return err
		}
		for k, si := range members[t] {
			for sp, n := range sources[si].chunks {
				for c := 0; c < n; c++ {
					data, err := os.ReadFile(staged(sources[si].name, sp, c, fmt.Sprint(p)))
					if err == nil {
						err = fin.Add(k, data)
					}
					if err != nil {
						fin.Close()
						return err
					}
				}
			}
		}
		outs, rejects, counts, err := fin.Close()
		if err != nil {
			return err
		}
		name := fmt.Sprintf("shard=%04d", p)
		if p == opt.Shards {
			name = "anonymous"
		}
		if err := os.MkdirAll(filepath.Join(opt.Dir, t, name), 0o755); err != nil {
			return err
		}
		parts[i].counts = counts
		parts[i].rejects = make([][]byte, len(members[t]))
		parts[i].late = make([]bool, len(members[t]))
		for k, si := range members[t] {
			if err := os.Rename(outs[k], filepath.Join(opt.Dir, t, name, sources[si].name+".arrow")); err != nil {
				return err
			}
			if rejects[k] != "" {
				parts[i].late[k] = true
				if parts[i].rejects[k], err = os.ReadFile(rejects[k]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	late := make([][][]byte, len(sources))
	for _, pt := range parts { // in table and partition order
		for k, si := range members[pt.t] {
			if pt.late[k] {
				late[si] = append(late[si], pt.rejects[k])
			}
			results[si].AddCounts(pt.counts[k], pt.p == opt.Shards)
		}
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, "rejects"), 0o755); err != nil {
		return nil, err
	}
	writers := map[string]*RejectWriter{}
	for si, s := range sources {
		t := s.prog.Table.Name
		if writers[t] == nil {
			writers[t] = NewRejectWriter(opt.Mem)
		}
		sp, c := 0, 0
		next := func() ([]byte, bool, error) {
			for sp < len(s.chunks) && c >= s.chunks[sp] {
				sp, c = sp+1, 0
			}
			if sp >= len(s.chunks) {
				return nil, false, nil
			}
			data, err := os.ReadFile(staged(s.name, sp, c, "rejects"))
			c++
			return data, err == nil, err
		}
		path := filepath.Join(opt.Dir, "rejects", s.name+".csv")
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		rc, err := writers[t].Source(f, s.file.Name, s.prog.Source.Dedupe, next, late[si])
		f.Close()
		if err != nil {
			return nil, err
		}
		r := &results[si]
		r.Rejected, r.ByReason, r.Rejects = rc.Rejected, rc.ByReason, path
		r.Duplicates += rc.Duplicates
		if err := r.Check(); err != nil {
			return results, err
		}
	}
	return results, os.RemoveAll(filepath.Join(opt.Dir, "staged"))
}

// localOpener reads a local file's bytes.
func localOpener(path string) Opener {
	return func(_ context.Context, off, n int64) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		if n < 0 {
			return f, nil
		}
		return readCloser{Reader: io.LimitReader(f, n), close: f.Close}, nil
	}
}

// localChunks reads the chunk files of Chunk (their keys are paths).
func localChunks(_ context.Context, path string, off, n int64) (io.ReadCloser, error) {
	return localOpener(path)(context.Background(), off, n)
}

// parallel calls do(0..n-1), at most limit at once (1 when limit < 1), and
// returns the first error by index.
func parallel(n, limit int, do func(i int) error) error {
	if limit < 1 {
		limit = 1
	}
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = do(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
