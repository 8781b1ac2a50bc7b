package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// fanOut starts n activities (or child workflows) with at most window in
// flight and calls done for each as it completes, in completion order. The
// caller stores results by index and reduces them in index (shard) order
// afterwards, so the reduction does not depend on which shard finished
// first. The first error stops launching and is returned.
func fanOut(ctx workflow.Context, n, window int, start func(i int) workflow.Future, done func(i int, f workflow.Future) error) error {
	if window <= 0 {
		window = n
	}
	sel := workflow.NewSelector(ctx)
	next, inflight := 0, 0
	var firstErr error
	launch := func() {
		i := next
		next++
		inflight++
		sel.AddFuture(start(i), func(f workflow.Future) {
			inflight--
			if err := done(i, f); err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	for next < n && inflight < window {
		launch()
	}
	for inflight > 0 {
		sel.Select(ctx)
		if firstErr != nil {
			return firstErr
		}
		for next < n && inflight < window {
			launch()
		}
	}
	return nil
}
