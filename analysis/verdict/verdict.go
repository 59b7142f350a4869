// Package verdict holds what analysis hands to alerting: the severity of a
// drift decision (and, as the signals are added, their verdict type). It is a
// leaf package: it imports nothing of driftwatch, so that analysis, alerting
// and the notifiers agree on one type without depending on each other.
//
// It holds no statistics and no alerting policy; it only names the outcome.
package verdict

// Severity is how far a feature drifted: "ok" < "warning" < "critical". Its
// string form is what ClickHouse rows and notifications carry.
type Severity string

// The severities, from least to most severe.
const (
	SeverityOK       Severity = "ok"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Rank orders severities: 0 for ok (and anything unknown), 1 for warning, 2 for critical.
func (s Severity) Rank() int {
	switch s {
	case SeverityWarning:
		return 1
	case SeverityCritical:
		return 2
	default:
		return 0
	}
}

// Valid reports whether s is one of the three known severities.
func (s Severity) Valid() bool {
	return s == SeverityOK || s == SeverityWarning || s == SeverityCritical
}
