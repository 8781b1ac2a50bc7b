package workflows

import (
	"reflect"
	"runtime"
	"strings"
)

// Stage names: the regeneration's, in order, and those of the other
// workflows' activities. They are the `stage` of progress queries, search
// attributes, activity log lines and CPU profile labels.
const (
	StageIngest   = "ingest"
	StageFeatures = "features"
	StageSegment  = "segment"
	StageTrain    = "train"
	StageDecide   = "decide"
	StagePublish  = "publish"
	StageUplift   = "uplift"   // the Uplift workflow
	StageSimulate = "simulate" // the Simulate workflow's world
	// StageEvaluate (evaluate.go) and StageLive (live.go) are also the
	// stages of those workflows' activities.
)

// Stages lists the regeneration's stages in order.
var Stages = []string{StageIngest, StageFeatures, StageSegment, StageTrain, StageDecide, StagePublish}

// stageActivities is the one table of which activities run in which
// stage. Activities are named by method value, so renaming or removing one
// fails the build instead of leaving a dead entry; TestEveryActivityHasAStage
// fails when an activity is missing.
var stageActivities = []struct {
	stage      string
	activities []any
}{
	{StageIngest, []any{a.ResolveInputs, a.ResolveKeys, a.IngestPlan, a.IngestSplit, a.IngestFinalize, a.IngestRejects, a.DeleteStaged}},
	{StageFeatures, []any{a.Profile, a.Vocabulary, a.Features, a.Quantiles, a.RecommendModel, a.Recommend, a.RecommendationsTable}},
	{StageSegment, []any{a.KMeansChooseK, a.KMeansSample, a.KMeansGather, a.KMeansWeigh, a.KMeansReduce, a.KMeansStep, a.SegmentAssign, a.SegmentTerms, a.DBSCANFit, a.DBSCANAssign, a.DBSCANOutliers, a.TopicsInit, a.TopicsEStep, a.TopicsUpdate, a.TopicsAssign}},
	{StageTrain, []any{a.SketchTrain, a.SketchShard, a.MergeBins, a.TrainTrees, a.TrainBoost, a.CombineForest, a.EvaluateForest, a.WriteHoldoutScores}},
	{StageDecide, []any{a.DecidePrepare, a.DecideHistory, a.DecideTrainUplift, a.DecideScore, a.DecideCurve, a.DecideAssign, a.DecideUpgrades}},
	{StagePublish, []any{a.PublishFeatures, a.Publish, a.WriteSummary, a.RecordContacts, a.WriteReport}},
	{StageUplift, []any{a.UpliftPrepare, a.UpliftFold, a.UpliftEvaluate}},
	{StageEvaluate, []any{a.EvaluateCampaign}},
	{StageSimulate, []any{a.SimulateWeek, a.SimulateDrop, a.AwaitHistory}},
	{StageLive, []any{a.LiveResolve, a.LiveScore, a.LiveFlush, a.LivePublish}},
}

// activityName is the activity type Temporal registers a method under: the
// method's name ("github.com/.../activities.(*Activities).Profile-fm" is
// "Profile").
func activityName(method any) string {
	name := runtime.FuncForPC(reflect.ValueOf(method).Pointer()).Name()
	name = strings.TrimSuffix(name, "-fm")
	return name[strings.LastIndexByte(name, '.')+1:]
}

// activityStages indexes stageActivities by activity type, once.
var activityStages = func() map[string]string {
	out := map[string]string{}
	for _, s := range stageActivities {
		for _, m := range s.activities {
			out[activityName(m)] = s.stage
		}
	}
	return out
}()

// StageOf returns the stage an activity type runs in; a type that is not
// in the table is its own stage, so it still shows apart in logs and
// profiles. The worker's logging interceptor asks it.
func StageOf(activityType string) string {
	if s, ok := activityStages[activityType]; ok {
		return s
	}
	return activityType
}
