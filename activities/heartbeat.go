package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// HeartbeatInterval is how often every activity heartbeats while it runs.
const HeartbeatInterval = 5 * time.Second

// Heartbeats is a worker interceptor that heartbeats every running activity
// every HeartbeatInterval, so that workflows can set a short heartbeat
// timeout on every activity: when a worker dies, its activities are retried
// elsewhere within that timeout instead of at their start-to-close deadline.
// Activities that report a resumable position call recordProgress; the
// loop repeats the latest position, so it never overwrites it.
type Heartbeats struct {
	interceptor.WorkerInterceptorBase
}

// InterceptActivity wraps every activity with the heartbeat loop.
func (*Heartbeats) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &heartbeatInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type heartbeatInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

func (h *heartbeatInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	last := &progress{}
	ctx = context.WithValue(ctx, progressKey{}, last)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if d, ok := last.get(); ok {
					activity.RecordHeartbeat(ctx, d)
				} else {
					activity.RecordHeartbeat(ctx)
				}
			}
		}
	}()
	return h.Next.ExecuteActivity(ctx, in)
}

type progressKey struct{}

// progress is the latest position an activity reported.
type progress struct {
	mu  sync.Mutex
	d   any
	set bool
}

func (p *progress) get() (any, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.d, p.set
}

// recordProgress heartbeats a resumable position (read back on retry with
// activity.GetHeartbeatDetails) and makes the heartbeat loop repeat it.
func recordProgress(ctx context.Context, d any) {
	if p, ok := ctx.Value(progressKey{}).(*progress); ok {
		p.mu.Lock()
		p.d, p.set = d, true
		p.mu.Unlock()
	}
	activity.RecordHeartbeat(ctx, d)
}
