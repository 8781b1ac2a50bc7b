package workflows_test

import (
	"go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

func protojsonMarshal(ev *history.HistoryEvent) ([]byte, error) {
	return protojson.Marshal(ev)
}
