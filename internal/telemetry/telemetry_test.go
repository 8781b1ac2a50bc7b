package telemetry

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMetricsExported(t *testing.T) {
	m, err := NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler.WithTags(map[string]string{"task_queue": "promoflow"})
	h.Counter("promoflow_shards_done").Inc(3)
	h.Timer("promoflow_stage_latency").Record(1500 * time.Millisecond)
	rec := httptest.NewRecorder()
	m.HTTP.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`promoflow_shards_done{task_queue="promoflow"} 3`,
		`promoflow_stage_latency`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
