package reference

// The baseline data set helpers, for the tests of package reference_test
// that score windows against references.
var (
	ReferenceFromTable = referenceFromTable
	ReadBaselineTable  = readBaselineTable
	WindowSummaries    = windowSummaries
)
