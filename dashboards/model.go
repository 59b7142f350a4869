package dashboards

// The subset of Grafana's dashboard JSON model (schemaVersion 39) that driftwatch's dashboards use.
// Field order follows Grafana's own export so that the generated files diff cleanly against one.

// Dashboard is one Grafana dashboard.
type Dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	Tags          []string    `json:"tags"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	Refresh       string      `json:"refresh"`
	Time          TimeRange   `json:"time"`
	Timezone      string      `json:"timezone"`
	Annotations   Annotations `json:"annotations"`
	Templating    Templating  `json:"templating"`
	Panels        []Panel     `json:"panels"`
}

// TimeRange is the dashboard's default time range, in Grafana's relative syntax.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Annotations holds the dashboard's annotation queries.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is Grafana's built-in "Annotations & Alerts" query.
type Annotation struct {
	BuiltIn    int           `json:"builtIn"`
	Datasource DatasourceRef `json:"datasource"`
	Enable     bool          `json:"enable"`
	Hide       bool          `json:"hide"`
	IconColor  string        `json:"iconColor"`
	Name       string        `json:"name"`
	Type       string        `json:"type"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a query template variable. Query is the data source query text: SQL for ClickHouse,
// a label_values(...) call for Prometheus.
type Variable struct {
	Name       string        `json:"name"`
	Label      string        `json:"label"`
	Type       string        `json:"type"`
	Datasource DatasourceRef `json:"datasource"`
	Definition string        `json:"definition"`
	Query      string        `json:"query"`
	Refresh    int           `json:"refresh"` // 1 on dashboard load, 2 on time range change
	Sort       int           `json:"sort"`    // 1 alphabetical ascending
	Multi      bool          `json:"multi"`
	IncludeAll bool          `json:"includeAll"`
	AllValue   string        `json:"allValue,omitempty"`
	Current    struct{}      `json:"current"`
	Options    []struct{}    `json:"options"`
	Hide       int           `json:"hide"`
}

// DatasourceRef names a data source by type and uid; the uid is provisioned in
// grafana/provisioning/datasources/driftwatch.yaml.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// GridPos places a panel on Grafana's 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Panel is one visualisation.
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	GridPos     GridPos        `json:"gridPos"`
	Interval    string         `json:"interval,omitempty"` // minimum query interval, e.g. "1m"
	Datasource  DatasourceRef  `json:"datasource"`
	Targets     []Target       `json:"targets"`
	FieldConfig FieldConfig    `json:"fieldConfig"`
	Options     map[string]any `json:"options"`
}

// Target is one query of a panel. ClickHouse targets set EditorType, RawSQL and an integer Format
// (0 time series, 1 table); Prometheus targets set Expr, LegendFormat, Range/Instant and, for
// tables, the string Format "table".
type Target struct {
	RefID        string        `json:"refId"`
	Datasource   DatasourceRef `json:"datasource"`
	EditorType   string        `json:"editorType,omitempty"`
	RawSQL       string        `json:"rawSql,omitempty"`
	Format       any           `json:"format,omitempty"`
	Expr         string        `json:"expr,omitempty"`
	LegendFormat string        `json:"legendFormat,omitempty"`
	Range        bool          `json:"range,omitempty"`
	Instant      bool          `json:"instant,omitempty"`
}

// FieldConfig sets how a panel displays its fields.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults apply to every field of a panel.
type FieldDefaults struct {
	Unit        string         `json:"unit,omitempty"`
	Decimals    *int           `json:"decimals,omitempty"`
	Min         *float64       `json:"min,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	Color       map[string]any `json:"color,omitempty"`
	Custom      map[string]any `json:"custom,omitempty"`
	Thresholds  *Thresholds    `json:"thresholds,omitempty"`
	Mappings    []any          `json:"mappings"`
}

// Thresholds colour values; the first step's Value is null (the base colour).
type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []Step `json:"steps"`
}

// Step is one threshold: values at or above Value get Color.
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Override changes properties of the fields a matcher selects.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher selects fields, e.g. {"id": "byName", "options": "severity"}.
type Matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

// Property is one field property set by an override.
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}
