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
	// ShardBlocks is the most finalize tasks per table over its user
	// shards, as the workflow's (DriverConfig.ShardBlocks); 0 means one
	// per shard.
	ShardBlocks int
	Dir         string // output: <table>/<partition>/<source>.arrow and rejects/<source>.csv
	Mem         memory.Allocator
	// GzipWhole reads a compressed file as one split (the path of files
	// below one split) instead of cutting it into chunks (File.Chunk).
	GzipWhole bool
	// Parallel is how many tasks of a step (inputs, splits, partitions)
	// run at once, as activities do in a worker (1 when zero). Results
	// do not depend on it.
	Parallel int
}

// Local ingests local files in one process: it runs the Driver the
// Ingest workflow runs, each step's tasks on Parallel goroutines over
// files under Dir instead of activities over the bucket, so its results
// equal the workflow's. Sources are named by position (and mapping
// source, when a file feeds several).
func Local(ctx context.Context, paths []string, opt LocalOptions) ([]Result, error) {
	l := &local{opt: opt, m: opt.Mapping, sources: map[string]*localSource{}}
	if l.m == nil {
		l.m = mapping.Canonical()
	}
	if l.opt.Mem == nil {
		l.opt.Mem = memory.DefaultAllocator
	}
	d, err := NewDriver(DriverConfig{Inputs: len(paths), Shards: opt.Shards, ShardBlocks: opt.ShardBlocks})
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{"staged", "late"} {
		if err := os.MkdirAll(filepath.Join(opt.Dir, dir), 0o755); err != nil {
			return nil, err
		}
	}
	plans := make([][]PlannedSource, len(paths))
	srcs := make([][]*localSource, len(paths))
	err = parallel(len(paths), opt.Parallel, func(i int) (err error) {
		plans[i], srcs[i], err = l.plan(ctx, i, paths[i])
		return err
	})
	if err == nil {
		for _, ss := range srcs {
			for _, s := range ss {
				l.sources[s.name] = s
			}
		}
		err = d.Planned(plans)
	}
	if err != nil {
		return nil, err
	}
	splits, sources := d.Splits(), d.Sources()
	staged := make([]Staged, len(splits))
	err = parallel(len(splits), opt.Parallel, func(i int) (err error) {
		staged[i], err = l.stage(ctx, l.sources[sources[splits[i].Source].Name], splits[i])
		return err
	})
	if err == nil {
		err = d.Staged(staged)
	}
	if err != nil {
		return nil, err
	}
	tasks := d.Finalizes()
	fin := make([]Finalized, len(tasks))
	err = parallel(len(tasks), opt.Parallel, func(i int) (err error) {
		fin[i], err = l.finalize(tasks[i])
		return err
	})
	if err == nil {
		err = d.Finalized(fin)
	}
	if err != nil {
		return nil, err
	}
	rej, err := l.rejects(d.RejectSources())
	if err != nil {
		return nil, err
	}
	if err := d.Rejected(rej); err != nil {
		return d.Results(), err
	}
	for _, dir := range []string{"staged", "late"} {
		if err := os.RemoveAll(filepath.Join(opt.Dir, dir)); err != nil {
			return nil, err
		}
	}
	return d.Results(), nil
}

// local is Local's executor of a driver's tasks.
type local struct {
	opt     LocalOptions
	m       *mapping.Mapping
	sources map[string]*localSource // by name
}

// localSource is a planned source's file and program.
type localSource struct {
	name string
	file *File
	prog *mapping.Program
}

// plan plans input i at path (IngestPlan's step).
func (l *local) plan(ctx context.Context, i int, path string) ([]PlannedSource, []*localSource, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	var chunk func(context.Context, *File, string) ([]Split, error)
	if !l.opt.GzipWhole {
		chunk = func(ctx context.Context, f *File, name string) ([]Split, error) {
			dir := filepath.Join(l.opt.Dir, "chunks", name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			f.OpenChunk = localChunks
			return f.Chunk(ctx, l.opt.SplitBytes, dir, func(_ context.Context, sp Split, path string) (string, error) {
				key := filepath.Join(dir, fmt.Sprintf("split-%04d.text", sp.Index))
				return key, os.Rename(path, key)
			})
		}
	}
	planned, err := PlanInput(ctx, l.m, path, fmt.Sprintf("%03d", i), l.opt.SplitBytes,
		func(s *mapping.Source) (*File, error) {
			f, err := NewFile(path, info.Size(), s, localOpener(path))
			if err == nil {
				f.Mem = l.opt.Mem
			}
			return f, err
		}, chunk)
	if err != nil {
		return nil, nil, err
	}
	var sources []PlannedSource
	var files []*localSource
	for _, p := range planned {
		sources = append(sources, p.Source)
		files = append(files, &localSource{name: p.Source.Name, file: p.File, prog: p.Program})
	}
	return sources, files, nil
}

// staged is where Local keeps chunk c of split sp of source src: its rows
// of partition p, or its rejects (what "rejects").
func (l *local) staged(src string, sp, c int, what string) string {
	return filepath.Join(l.opt.Dir, "staged", fmt.Sprintf("%s-%04d-%05d-%s.arrow", src, sp, c, what))
}

// stage stages split j of s (IngestSplit's step).
func (l *local) stage(ctx context.Context, s *localSource, j SplitTask) (Staged, error) {
	return StageSplit(ctx, s.file, s.prog, j.Range, StageState{}, l.opt.Shards, l.opt.ChunkRows, l.opt.Dir, func(c Chunk, _ StageState) error {
		for p, path := range c.Parts {
			if err := os.Rename(path, l.staged(s.name, j.Split, c.Index, fmt.Sprint(p))); err != nil {
				return err
			}
		}
		return os.Rename(c.Rejects, l.staged(s.name, j.Split, c.Index, "rejects"))
	})
}

// finalize runs finalize task t (IngestFinalize's step): the pieces go to
// Dir/<table>/<partition>/<source>.arrow, each source's late rejects of
// the task to one file under Dir/late.
func (l *local) finalize(t FinalizeTask) (Finalized, error) {
	progs := make([]*mapping.Program, len(t.Sources))
	for k, s := range t.Sources {
		progs[k] = l.sources[s.Name].prog
	}
	dir, err := os.MkdirTemp(l.opt.Dir, "final-")
	if err != nil {
		return Finalized{}, err
	}
	defer os.RemoveAll(dir)
	counts, late, err := FinalizeBlock(t, progs[0].Table, progs, dir, l.opt.Mem,
		func(k, sp, c, p int) ([]byte, error) {
			return os.ReadFile(l.staged(t.Sources[k].Name, sp, c, fmt.Sprint(p)))
		},
		func(p, k int, path string) error {
			part := filepath.Join(l.opt.Dir, t.Table, fmt.Sprintf("shard=%04d", p))
			if p == l.opt.Shards {
				part = filepath.Join(l.opt.Dir, t.Table, "anonymous")
			}
			if err := os.MkdirAll(part, 0o755); err != nil {
				return err
			}
			return os.Rename(path, filepath.Join(part, t.Sources[k].Name+".arrow"))
		}, nil)
	if err != nil {
		return Finalized{}, err
	}
	for k, s := range t.Sources {
		if late[k] == "" {
			continue
		}
		dst := filepath.Join(l.opt.Dir, "late", fmt.Sprintf("%s-%s-%04d-%04d.arrow", t.Table, s.Name, t.From, t.To))
		if err := os.Rename(late[k], dst); err != nil {
			return Finalized{}, err
		}
		late[k] = dst
	}
	return Finalized{Counts: counts, LateRejects: late}, nil
}

// rejects writes Dir/rejects/<source>.csv for every source
// (IngestRejects' step).
func (l *local) rejects(sources []RejectSource) (RejectsWritten, error) {
	out := RejectsWritten{Keys: make([]string, len(sources))}
	if err := os.MkdirAll(filepath.Join(l.opt.Dir, "rejects"), 0o755); err != nil {
		return out, err
	}
	var err error
	out.Counts, err = WriteRejects(sources, l.opt.Mem, localRejects{l, sources},
		func(k int) string { return filepath.Join(l.opt.Dir, "rejects", sources[k].Name+".csv") },
		func(k int, path string) error { out.Keys[k] = path; return nil })
	return out, err
}

// localRejects reads Local's staged and late rejects.
type localRejects struct {
	l       *local
	sources []RejectSource
}

func (r localRejects) Late(path string) ([]byte, error) { return os.ReadFile(path) }

func (r localRejects) Staged(k, sp, c int) ([]byte, error) {
	return os.ReadFile(r.l.staged(r.sources[k].Name, sp, c, "rejects"))
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
