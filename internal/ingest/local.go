package ingest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
			splits, err := f.Plan(ctx, opt.SplitBytes)
			if err != nil {
				return nil, err
			}
			if _, err := f.Check(ctx, prog, splits[0]); err != nil {
				return nil, err
			}
			name := fmt.Sprintf("%03d", i)
			if len(specs) > 1 {
				name += "-" + s.Name
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
	for si, s := range sources {
		r := &results[si]
		*r = Result{Source: s.file.Name, Name: s.name, Table: s.prog.Table.Name, Format: s.file.Format, Splits: len(s.splits)}
		for sp, split := range s.splits {
			rd, closeFn, err := s.file.Reader(ctx, split, Position{}, s.prog)
			if err != nil {
				return nil, err
			}
			dir, err := os.MkdirTemp(opt.Dir, "split-")
			if err != nil {
				closeFn()
				return nil, err
			}
			cfg := StageConfig{Program: s.prog, Shards: opt.Shards, ChunkRows: opt.ChunkRows, Dir: dir, Mem: opt.Mem, Source: s.file.Name}
			st, err := Stage(ctx, rd, cfg, StageState{}, func(c Chunk, _ StageState) error {
				for p, path := range c.Parts {
					if err := os.Rename(path, staged(s.name, sp, c.Index, fmt.Sprint(p))); err != nil {
						return err
					}
				}
				return os.Rename(c.Rejects, staged(s.name, sp, c.Index, "rejects"))
			})
			closeFn()
			os.RemoveAll(dir)
			if err != nil {
				return nil, err
			}
			s.chunks = append(s.chunks, st.Chunks)
			r.RowsRead += st.Counts.RowsRead
			r.NoUser += st.Counts.NoUser
		}
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
	late := make([][][]byte, len(sources))
	for _, t := range tables {
		var progs []*mapping.Program
		for _, si := range members[t] {
			progs = append(progs, sources[si].prog)
		}
		for p := 0; p <= opt.Shards; p++ {
			dir, err := os.MkdirTemp(opt.Dir, "final-")
			if err != nil {
				return nil, err
			}
			fin, err := NewFinalizer(progs[0].Table, progs, dir, opt.Mem)
			if err != nil {
				return nil, err
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
							return nil, err
						}
					}
				}
			}
			outs, rejects, counts, err := fin.Close()
			if err != nil {
				return nil, err
			}
			part := fmt.Sprintf("shard=%04d", p)
			if p == opt.Shards {
				part = "anonymous"
			}
			if err := os.MkdirAll(filepath.Join(opt.Dir, t, part), 0o755); err != nil {
				return nil, err
			}
			for k, si := range members[t] {
				if err := os.Rename(outs[k], filepath.Join(opt.Dir, t, part, sources[si].name+".arrow")); err != nil {
					return nil, err
				}
				if rejects[k] != "" {
					data, err := os.ReadFile(rejects[k])
					if err != nil {
						return nil, err
					}
					late[si] = append(late[si], data)
				}
				results[si].AddCounts(counts[k], p == opt.Shards)
			}
			os.RemoveAll(dir)
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
