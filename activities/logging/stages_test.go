package logging

import (
	"reflect"
	"testing"

	"github.com/promoflow/promoflow/activities"
)

// TestEveryActivityHasAStage keeps the stage table in step with the
// activities: a new activity without a stage would log its type as its
// stage and drop out of the bench's per-stage figures.
func TestEveryActivityHasAStage(t *testing.T) {
	typ := reflect.TypeOf(&activities.Activities{})
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if _, ok := stages[name]; !ok {
			t.Errorf("activity %s has no stage in logging.stages", name)
		}
	}
}
