// Package dashboards holds driftwatch's Grafana dashboards, their provisioning files and the
// Prometheus alerting rules, as files an operator copies into Grafana and Prometheus.
//
// The dashboards are written as Go values (drift.go, pipeline.go) and rendered to
// grafana/dashboards/*.json; `go test ./dashboards -update` rewrites the JSON after a change, and
// `go test ./dashboards` fails while the committed JSON differs from the rendering. The tests also
// run every ClickHouse query of the dashboards against a real server, check that every Prometheus
// metric they use is exported by driftwatch, and run promtool over the rules and their unit tests.
//
// The package deliberately does not talk to Grafana: it has no API client and does not upload
// anything. Provisioning from files is the supported way to install the dashboards.
package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The data sources the dashboards use, by the uids provisioned in
// grafana/provisioning/datasources/driftwatch.yaml.
var (
	ClickHouse = DatasourceRef{Type: "grafana-clickhouse-datasource", UID: "clickhouse"}
	Prometheus = DatasourceRef{Type: "prometheus", UID: "prometheus"}
)

// Dir is where the rendered dashboards live, relative to this package.
const Dir = "grafana/dashboards"

// All returns every dashboard, keyed by its file name under Dir.
func All() map[string]Dashboard {
	return map[string]Dashboard{
		"driftwatch-model-drift.json": ModelDrift(),
		"driftwatch-pipeline.json":    Pipeline(),
		"driftwatch-security.json":    Security(),
	}
}

// Render returns the JSON of d as committed: two-space indentation, no HTML escaping, final newline.
func Render(d Dashboard) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("rendering dashboard %s: %w", d.UID, err)
	}
	return b.Bytes(), nil
}

// newDashboard returns a dashboard with driftwatch's common settings.
func newDashboard(uid, title, description string, vars []Variable, panels []Panel) Dashboard {
	return Dashboard{
		UID:           uid,
		Title:         title,
		Description:   description,
		Tags:          []string{"driftwatch"},
		SchemaVersion: 39,
		Version:       1,
		Editable:      true,
		GraphTooltip:  1, // shared crosshair
		Refresh:       "1m",
		Time:          TimeRange{From: "now-6h", To: "now"},
		Timezone:      "utc",
		Annotations: Annotations{List: []Annotation{{
			BuiltIn:    1,
			Datasource: DatasourceRef{Type: "grafana", UID: "-- Grafana --"},
			Enable:     true,
			Hide:       true,
			IconColor:  "rgba(0, 211, 255, 1)",
			Name:       "Annotations & Alerts",
			Type:       "dashboard",
		}}},
		Templating: Templating{List: vars},
		Panels:     panels,
	}
}

func queryVariable(ds DatasourceRef, name, label, query string, refresh int, multi bool) Variable {
	v := Variable{
		Name: name, Label: label, Type: "query", Datasource: ds,
		Definition: query, Query: query, Refresh: refresh, Sort: 1, Options: []struct{}{},
	}
	if multi {
		v.Multi, v.IncludeAll = true, true
	}
	return v
}

func timeseries(id int, title, description string, pos GridPos, ds DatasourceRef, unit string, targets ...Target) Panel {
	return Panel{
		ID: id, Type: "timeseries", Title: title, Description: description, GridPos: pos,
		Datasource: ds, Targets: targets,
		FieldConfig: FieldConfig{
			Defaults: FieldDefaults{
				Unit:  unit,
				Color: map[string]any{"mode": "palette-classic"},
				Custom: map[string]any{
					"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "auto",
					"spanNulls": false, "axisSoftMin": 0,
				},
				Mappings: []any{},
			},
			Overrides: []Override{},
		},
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
	}
}

func table(id int, title, description string, pos GridPos, ds DatasourceRef, targets ...Target) Panel {
	return Panel{
		ID: id, Type: "table", Title: title, Description: description, GridPos: pos,
		Datasource: ds, Targets: targets,
		FieldConfig: FieldConfig{
			Defaults:  FieldDefaults{Custom: map[string]any{"align": "auto", "filterable": true}, Mappings: []any{}},
			Overrides: []Override{},
		},
		Options: map[string]any{"showHeader": true, "cellHeight": "sm", "footer": map[string]any{"show": false}},
	}
}

// thresholdLines draws warning and critical thresholds as dashed lines on a time series panel.
func thresholdLines(p Panel, warning, critical float64) Panel {
	p.FieldConfig.Defaults.Thresholds = &Thresholds{Mode: "absolute", Steps: []Step{
		{Color: "green"}, {Color: "orange", Value: &warning}, {Color: "red", Value: &critical},
	}}
	p.FieldConfig.Defaults.Custom["thresholdsStyle"] = map[string]any{"mode": "dashed"}
	return p
}

// severityColors maps the severity column of a table to coloured cells.
func severityColors(p Panel, column string) Panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, Override{
		Matcher: Matcher{ID: "byName", Options: column},
		Properties: []Property{
			{ID: "custom.cellOptions", Value: map[string]any{"type": "color-background"}},
			{ID: "mappings", Value: []any{map[string]any{"type": "value", "options": map[string]any{
				"ok":       map[string]any{"color": "green", "index": 0},
				"warning":  map[string]any{"color": "orange", "index": 1},
				"critical": map[string]any{"color": "red", "index": 2},
				"pending":  map[string]any{"color": "yellow", "index": 3},
				"firing":   map[string]any{"color": "red", "index": 4},
				"resolved": map[string]any{"color": "green", "index": 5},
			}}}},
		},
	})
	return p
}

// nanAsDash shows NaN values of a table column (p-values of tests that have none) as "-".
func nanAsDash(p Panel, column string) Panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, Override{
		Matcher: Matcher{ID: "byName", Options: column},
		Properties: []Property{{ID: "mappings", Value: []any{map[string]any{
			"type": "special", "options": map[string]any{"match": "nan", "result": map[string]any{"text": "-", "index": 0}},
		}}}},
	})
	return p
}
