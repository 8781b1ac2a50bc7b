package ingest

import (
	"strings"
	"testing"
)

// TestDriver walks the driver through an ingest of two inputs (the second
// feeding two tables) with fake results: the tasks of each step, the
// finalize blocks per table, the late rejects handed to the rejects step
// and the reduce (rows without a user from the last block only).
func TestDriver(t *testing.T) {
	for _, tc := range []struct {
		shards, blocks int
		want           [][2]int // finalize partitions per table
	}{
		{3, 0, [][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}}},
		{5, 2, [][2]int{{0, 3}, {3, 5}, {5, 6}}},
	} {
		d, err := NewDriver(DriverConfig{Inputs: 2, Shards: tc.shards, ShardBlocks: tc.blocks})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Staged(nil); err == nil {
			t.Error("staged results accepted at the plan step")
		}
		err = d.Planned([][]PlannedSource{
			{{Name: "a", Key: "a.csv", Table: "events", Splits: make([]Split, 2)}},
			{{Name: "b-ev", Key: "b.csv", Table: "events", Splits: make([]Split, 1)}, {Name: "b-pr", Key: "b.csv", Table: "profiles", Splits: make([]Split, 3)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		splits := d.Splits()
		if len(splits) != 6 || splits[2].Source != 1 || splits[5].Source != 2 || splits[5].Split != 2 {
			t.Fatalf("splits %+v", splits)
		}
		staged := make([]Staged, len(splits))
		for i := range staged {
			staged[i] = Staged{Counts: SplitCounts{RowsRead: 10, NoUser: 1}, Chunks: i + 1}
		}
		if err := d.Staged(staged); err != nil {
			t.Fatal(err)
		}
		tasks := d.Finalizes()
		if len(tasks) != 2*len(tc.want) {
			t.Fatalf("%d finalize tasks, want %d", len(tasks), 2*len(tc.want))
		}
		fin := make([]Finalized, len(tasks))
		for i, task := range tasks {
			table, w := "events", tc.want[i%len(tc.want)]
			if i >= len(tc.want) {
				table = "profiles"
			}
			if task.Table != table || task.From != w[0] || task.To != w[1] {
				t.Errorf("task %d: %s [%d, %d), want %s %v", i, task.Table, task.From, task.To, table, w)
			}
			fin[i] = Finalized{Counts: make([]FinalCounts, len(task.Sources)), LateRejects: make([]string, len(task.Sources))}
			for k := range task.Sources {
				// Every row of a source accepted: 8 in the first block,
				// the rest without a user.
				var n int64
				switch task.From {
				case 0:
					n = 8
				case tc.shards:
					n = 10*int64(len(task.Sources[k].Chunks)) - 8
				}
				fin[i].Counts[k] = FinalCounts{Accepted: n, Rows: n, MinTS: 1000, MaxTS: 2000 + int64(task.From)}
			}
			if task.From == 0 {
				fin[i].LateRejects[0] = "late-" + task.Table
			}
		}
		if got := tasks[0].Sources; len(got) != 2 || got[0].Name != "a" || got[1].Name != "b-ev" || got[0].Chunks[1] != 2 {
			t.Errorf("events sources %+v", got)
		}
		if err := d.Finalized(fin); err != nil {
			t.Fatal(err)
		}
		rs := d.RejectSources()
		if len(rs) != 3 || strings.Join(rs[0].Late, ",") != "late-events" || len(rs[1].Late) != 0 || strings.Join(rs[2].Late, ",") != "late-profiles" {
			t.Errorf("reject sources %+v", rs)
		}
		rej := RejectsWritten{Keys: []string{"ra", "rb1", "rb2"}, Counts: make([]RejectCounts, 3)}
		if err := d.Rejected(rej); err != nil {
			t.Fatal(err)
		}
		if d.Step() != StepDone {
			t.Fatalf("step %s", d.Step())
		}
		for i, r := range d.Results() {
			if r.RowsRead != r.Accepted || r.NoUser != int64(len(d.Sources()[i].Splits)) || r.Rejects != rej.Keys[i] {
				t.Errorf("source %d: %+v", i, r)
			}
			if r.AcceptedNoUser != r.RowsRead-8 || r.MaxTS.UnixMilli() != int64(2000+tc.shards) {
				t.Errorf("source %d: %d accepted without a user, max ts %d", i, r.AcceptedNoUser, r.MaxTS.UnixMilli())
			}
		}
	}
}

// TestDriverAccounting: a source whose rows are not all accounted for
// stops the reduce with the sources before it.
func TestDriverAccounting(t *testing.T) {
	d, _ := NewDriver(DriverConfig{Inputs: 1, Shards: 1})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.Planned([][]PlannedSource{{{Name: "a", Table: "events", Splits: make([]Split, 1)}, {Name: "b", Table: "events", Splits: make([]Split, 1)}}}))
	must(d.Staged([]Staged{{Counts: SplitCounts{RowsRead: 3}, Chunks: 1}, {Counts: SplitCounts{RowsRead: 3}, Chunks: 1}}))
	fin := Finalized{Counts: []FinalCounts{{Accepted: 3}, {Accepted: 2}}, LateRejects: []string{"", ""}}
	must(d.Finalized([]Finalized{fin, {Counts: make([]FinalCounts, 2), LateRejects: []string{"", ""}}}))
	err := d.Rejected(RejectsWritten{Keys: []string{"", ""}, Counts: make([]RejectCounts, 2)})
	if err == nil || !strings.Contains(err.Error(), "row accounting") || len(d.Results()) != 1 {
		t.Errorf("error %v, %d results", err, len(d.Results()))
	}
}
