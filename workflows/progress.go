package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// ProgressQuery is the query that returns a run's Progress.
const ProgressQuery = "progress"

// Stage states.
const (
	Pending = "pending"
	Running = "running"
	Done    = "done"
)

// StageProgress is one stage of a run as operators see it.
type StageProgress struct {
	Name    string  `json:"name"`
	State   string  `json:"state"`
	Done    int     `json:"done"`  // finished units (shards, iterations)
	Total   int     `json:"total"` // units to do; 0 when unknown
	Seconds float64 `json:"seconds"`
	// Started is when the stage began (workflow time); stages may overlap
	// (train beside segment).
	Started time.Time `json:"started,omitzero"`
	Detail  string    `json:"detail,omitempty"`
}

// Progress is the answer to the progress query.
type Progress struct {
	RunID  string          `json:"run_id"`
	Stage  string          `json:"stage"` // the running stage, or "done"
	Stages []StageProgress `json:"stages"`
}

// tracker keeps a run's progress; all times come from workflow.Now, so the
// durations replay exactly.
type tracker struct {
	ctx workflow.Context
	p   Progress
}

func newTracker(ctx workflow.Context, runID string, stages ...string) *tracker {
	t := &tracker{ctx: ctx, p: Progress{RunID: runID, Stage: Pending}}
	for _, s := range stages {
		t.p.Stages = append(t.p.Stages, StageProgress{Name: s, State: Pending})
	}
	return t
}

func (t *tracker) stage(name string) *StageProgress {
	for i := range t.p.Stages {
		if t.p.Stages[i].Name == name {
			return &t.p.Stages[i]
		}
	}
	panic("unknown stage " + name)
}

// begin marks a stage running with total units. The running stage shown
// is the first running one in stage order: a stage that starts beside an
// earlier one (train beside segment) shows once that one ends.
func (t *tracker) begin(name string, total int) {
	s := t.stage(name)
	s.State, s.Total, s.Started = Running, total, workflow.Now(t.ctx)
	t.showRunning()
}

// showRunning sets the running stage shown to the first running one, if any.
func (t *tracker) showRunning() {
	for _, s := range t.p.Stages {
		if s.State == Running {
			t.p.Stage = s.Name
			return
		}
	}
}

// step counts one finished unit of the running stage.
func (t *tracker) step(name string) { t.stage(name).Done++ }

// detail sets a short note on a stage, such as the k-means cost.
func (t *tracker) detail(name, d string) { t.stage(name).Detail = d }

// end marks a stage done and records its duration.
func (t *tracker) end(name string) {
	s := t.stage(name)
	s.State = Done
	if s.Total > 0 {
		s.Done = s.Total
	}
	s.Seconds = workflow.Now(t.ctx).Sub(s.Started).Seconds()
	t.showRunning()
}

// finish marks the run done.
func (t *tracker) finish() { t.p.Stage = Done }

// seconds returns each finished stage's duration.
func (t *tracker) seconds() map[string]float64 {
	out := map[string]float64{}
	for _, s := range t.p.Stages {
		if s.State == Done {
			out[s.Name] = s.Seconds
		}
	}
	return out
}
