package workflows

import (
	"reflect"
	"testing"

	"github.com/promoflow/promoflow/activities"
)

// TestEveryActivityHasAStage keeps the stage table in step with the
// activities: a new activity without a stage would log its type as its
// stage and drop out of the benchmarks' per-stage figures; an activity in
// two stages would be counted in whichever the index met last.
func TestEveryActivityHasAStage(t *testing.T) {
	typ := reflect.TypeOf(&activities.Activities{})
	methods := map[string]bool{}
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		methods[name] = true
		if StageOf(name) == name {
			t.Errorf("activity %s has no stage in stageActivities", name)
		}
	}
	seen := map[string]string{}
	for _, s := range stageActivities {
		for _, m := range s.activities {
			name := activityName(m)
			if !methods[name] {
				t.Errorf("stage %s lists %q, not an activity method", s.stage, name)
			}
			if prev, ok := seen[name]; ok {
				t.Errorf("activity %s is in stages %s and %s", name, prev, s.stage)
			}
			seen[name] = s.stage
		}
	}
}

func TestStageOf(t *testing.T) {
	for _, tc := range []struct{ typ, want string }{
		{"IngestSplit", StageIngest},
		{"Features", StageFeatures},
		{"KMeansStep", StageSegment},
		{"TrainBoost", StageTrain},
		{"DecideCurve", StageDecide},
		{"Publish", StagePublish},
		{"LiveScore", StageLive},
		{"EvaluateCampaign", StageEvaluate},
		{"NotAnActivity", "NotAnActivity"},
	} {
		if got := StageOf(tc.typ); got != tc.want {
			t.Errorf("StageOf(%q) = %q, want %q", tc.typ, got, tc.want)
		}
	}
}
