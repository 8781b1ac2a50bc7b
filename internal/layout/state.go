package layout

import "fmt"

// State is where a template's latest adjustment state lives (the
// evaluation writes it, the next run's decide stage and live decisions
// read it).
func State(template string) string { return fmt.Sprintf("state/%s/latest.json", template) }

// StateVersion is where version v of a template's state is kept beside
// the latest, so that a run can say which state it decided with.
func StateVersion(template string, v int) string {
	return fmt.Sprintf("state/%s/v%06d.json", template, v)
}
