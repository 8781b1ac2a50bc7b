package uplift

import (
	"strings"
	"testing"
)

// TestCrossFitFoldRows: a fold whose predictions do not cover its rows
// is an error before the evaluation.
func TestCrossFitFoldRows(t *testing.T) {
	cf, err := NewCrossFit(Config{Folds: 3}, []int{10, 11, 12})
	if err != nil {
		t.Fatal(err)
	}
	if err := cf.Evaluated(); err == nil {
		t.Error("evaluated before the folds")
	}
	if err := cf.Fitted([]int{10, 12, 12}); err == nil || !strings.Contains(err.Error(), "fold 1: 12 predictions for 11 rows") {
		t.Errorf("fitted: %v", err)
	}
	if err := cf.Fitted([]int{10, 11, 12}); err != nil || cf.Step() != StepEvaluate || cf.PolicyBudget() != PolicyBudget {
		t.Errorf("fitted: %v, step %d, budget %v", err, cf.Step(), cf.PolicyBudget())
	}
}
