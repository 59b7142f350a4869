package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite grafana/dashboards/*.json from the Go definitions")

// TestGenerated checks that the committed JSON is what the Go definitions render, and that no other
// JSON file sits in the dashboards folder (Grafana would load it too).
func TestGenerated(t *testing.T) {
	all := All()
	for name, d := range all {
		want, err := Render(d)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(Dir, name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./dashboards -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the rendering of the Go definition: run go test ./dashboards -update", path)
		}
	}
	files, err := filepath.Glob(filepath.Join(Dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := all[filepath.Base(f)]; !ok {
			t.Errorf("%s is not rendered from a Go definition: add it to All or delete it", f)
		}
	}
}

// jsonDashboard is what the tests read back from the committed JSON, independently of the Go types.
type jsonDashboard struct {
	file          string
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []jsonVariable `json:"list"`
	} `json:"templating"`
	Panels []jsonPanel `json:"panels"`
}

type jsonVariable struct {
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Query      string  `json:"query"`
	Datasource jsonRef `json:"datasource"`
	Multi      bool    `json:"multi"`
	IncludeAll bool    `json:"includeAll"`
}

type jsonPanel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Datasource jsonRef                  `json:"datasource"`
	Targets    []jsonTarget             `json:"targets"`
}

type jsonTarget struct {
	RefID      string  `json:"refId"`
	Datasource jsonRef `json:"datasource"`
	EditorType string  `json:"editorType"`
	RawSQL     string  `json:"rawSql"`
	Format     any     `json:"format"`
	Expr       string  `json:"expr"`
}

type jsonRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// loadDashboards parses every committed dashboard.
func loadDashboards(t *testing.T) []jsonDashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want at least 2 dashboards in %s, found %d", Dir, len(files))
	}
	var out []jsonDashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d jsonDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("parsing %s: %v", f, err)
		}
		d.file = f
		out = append(out, d)
	}
	return out
}

// provisionedDatasources returns the uid → type of every data source in the provisioning file.
func provisionedDatasources(t *testing.T) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile("grafana/provisioning/datasources/driftwatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion  int              `yaml:"apiVersion"`
		Datasources []map[string]any `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("parsing datasources provisioning: %v", err)
	}
	if f.APIVersion != 1 {
		t.Errorf("datasources provisioning: apiVersion %d, want 1", f.APIVersion)
	}
	out := map[string]map[string]any{}
	for _, ds := range f.Datasources {
		uid, _ := ds["uid"].(string)
		if uid == "" {
			t.Errorf("datasources provisioning: data source %v has no uid", ds["name"])
		}
		if _, dup := out[uid]; dup {
			t.Errorf("datasources provisioning: uid %q twice", uid)
		}
		out[uid] = ds
	}
	return out
}

func TestProvisioning(t *testing.T) {
	ds := provisionedDatasources(t)
	ch := ds["clickhouse"]
	if ch == nil || ch["type"] != ClickHouse.Type {
		t.Fatalf("want a %s data source with uid clickhouse, got %v", ClickHouse.Type, ch)
	}
	jd, _ := ch["jsonData"].(map[string]any)
	for k, want := range map[string]any{"port": 19000, "protocol": "native", "defaultDatabase": "driftwatch"} {
		if jd[k] != want {
			t.Errorf("clickhouse jsonData.%s = %v, want %v", k, jd[k], want)
		}
	}
	if p := ds["prometheus"]; p == nil || p["type"] != Prometheus.Type || p["url"] == nil {
		t.Errorf("want a prometheus data source with uid prometheus and a url, got %v", p)
	}

	b, err := os.ReadFile("grafana/provisioning/dashboards/driftwatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("parsing dashboards provisioning: %v", err)
	}
	if f.APIVersion != 1 || len(f.Providers) != 1 {
		t.Fatalf("dashboards provisioning: want apiVersion 1 and one provider, got %+v", f)
	}
	if p := f.Providers[0]; p.Type != "file" || !filepath.IsAbs(p.Options.Path) {
		t.Errorf("dashboards provisioning: want a file provider with an absolute path, got %+v", p)
	}
}

func TestDashboardStructure(t *testing.T) {
	ds := provisionedDatasources(t)
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			if d.SchemaVersion != 39 {
				t.Errorf("schemaVersion %d, want 39", d.SchemaVersion)
			}
			if d.UID == "" || len(d.UID) > 40 {
				t.Errorf("uid %q: want 1 to 40 characters", d.UID)
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = d.file
			if !strings.HasPrefix(d.Title, "driftwatch / ") {
				t.Errorf("title %q: want the prefix \"driftwatch / \"", d.Title)
			}
			if len(d.Panels) == 0 {
				t.Fatal("no panels")
			}
			checkRef := func(where string, r jsonRef) {
				p, ok := ds[r.UID]
				if !ok {
					t.Errorf("%s: data source uid %q is not provisioned", where, r.UID)
				} else if p["type"] != r.Type {
					t.Errorf("%s: data source %q has type %q, provisioned as %v", where, r.UID, r.Type, p["type"])
				}
			}
			defined := map[string]bool{}
			for _, v := range d.Templating.List {
				if defined[v.Name] {
					t.Errorf("variable %s defined twice", v.Name)
				}
				defined[v.Name] = true
				checkRef("variable "+v.Name, v.Datasource)
			}
			used := map[string]bool{}
			checkVars := func(where, query string) {
				for _, name := range referencedVariables(query) {
					used[name] = true
					if !defined[name] {
						t.Errorf("%s uses $%s, which the dashboard does not define", where, name)
					}
				}
			}
			for _, v := range d.Templating.List {
				checkVars("variable "+v.Name, v.Query)
				if v.Datasource.Type == ClickHouse.Type {
					for _, problem := range unsafeInterpolations(v.Query) {
						t.Errorf("variable %s: %s", v.Name, problem)
					}
				}
			}

			ids := map[int]bool{}
			for i, p := range d.Panels {
				where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
				if p.ID <= 0 || ids[p.ID] {
					t.Errorf("%s: id must be positive and unique", where)
				}
				ids[p.ID] = true
				g := p.GridPos
				if g.X < 0 || g.Y < 0 || g.W <= 0 || g.H <= 0 || g.X+g.W > 24 {
					t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
				}
				for _, q := range d.Panels[:i] {
					h := q.GridPos
					if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
						t.Errorf("%s: gridPos %+v overlaps panel %d %q at %+v", where, g, q.ID, q.Title, h)
					}
				}
				checkRef(where, p.Datasource)
				if len(p.Targets) == 0 {
					t.Errorf("%s: no queries", where)
				}
				refIDs := map[string]bool{}
				for _, tg := range p.Targets {
					if tg.RefID == "" || refIDs[tg.RefID] {
						t.Errorf("%s: refId %q empty or repeated", where, tg.RefID)
					}
					refIDs[tg.RefID] = true
					checkRef(where, tg.Datasource)
					switch tg.Datasource.Type {
					case ClickHouse.Type:
						checkVars(where, tg.RawSQL)
						checkClickHouseTarget(t, where, p.Type, tg)
					case Prometheus.Type:
						checkVars(where, tg.Expr)
						if !strings.Contains(tg.Expr, "driftwatch_") {
							t.Errorf("%s: expression %q uses no driftwatch metric", where, tg.Expr)
						}
					default:
						t.Errorf("%s: unexpected data source type %q", where, tg.Datasource.Type)
					}
				}
			}
			for name := range defined {
				if !used[name] {
					t.Errorf("variable %s is defined but no query uses it", name)
				}
			}
		})
	}
}

// checkClickHouseTarget checks that a ClickHouse query is raw SQL in the right format and only uses
// what ClickHouse 18.16 and the plugin's 18.16-safe macros support.
func checkClickHouseTarget(t *testing.T, where, panelType string, tg jsonTarget) {
	t.Helper()
	if tg.EditorType != "sql" || tg.RawSQL == "" {
		t.Errorf("%s: want editorType sql and rawSql, got %q", where, tg.EditorType)
	}
	wantFormat := map[string]float64{"timeseries": 0, "table": 1}[panelType]
	if f, ok := tg.Format.(float64); !ok || f != wantFormat {
		t.Errorf("%s: format %v, want %v for a %s panel", where, tg.Format, wantFormat, panelType)
	}
	for _, m := range regexp.MustCompile(`\$__\w+`).FindAllString(tg.RawSQL, -1) {
		if !slices.Contains([]string{"$__timeFilter", "$__interval_s", "$__conditionalAll"}, m) {
			t.Errorf("%s: macro %s is not known to work on ClickHouse 18.16", where, m)
		}
	}
	for _, bad := range []string{"toStartOfInterval", "DateTime64", "WITH "} {
		if strings.Contains(tg.RawSQL, bad) {
			t.Errorf("%s: %q does not run on ClickHouse 18.16", where, bad)
		}
	}
	if !strings.Contains(tg.RawSQL, "$__timeFilter(") {
		t.Errorf("%s: query ignores the dashboard's time range ($__timeFilter)", where)
	}
	for _, problem := range unsafeInterpolations(tg.RawSQL) {
		t.Errorf("%s: %s", where, problem)
	}
	for _, table := range []string{"inference_windows", "feature_windows", "drift_scores", "references"} {
		if regexp.MustCompile(`\b`+table+`\b`).MatchString(tg.RawSQL) &&
			!regexp.MustCompile(`\b`+table+`\s+FINAL\b`).MatchString(tg.RawSQL) {
			t.Errorf("%s: reads the ReplacingMergeTree table %s without FINAL", where, table)
		}
	}
	if panelType == "timeseries" && !strings.Contains(tg.RawSQL,
		"toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s) AS time") {
		t.Errorf("%s: time series query without the intDiv bucketing of window_start", where)
	}
}

// variableRef matches $name, ${name} and ${name:format}.
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// referencedVariables returns the dashboard variables a query uses (Grafana's and the plugin's own
// $__ names excluded), sorted.
func referencedVariables(q string) []string {
	seen := map[string]bool{}
	for _, m := range variableRef.FindAllStringSubmatch(q, -1) {
		name := m[1] + m[2]
		if !strings.HasPrefix(name, "__") {
			seen[name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestReferencedVariables(t *testing.T) {
	got := referencedVariables("a = ${model_id:singlequote} AND $__timeFilter(t) AND b = $feature AND c = ${x} $__interval_s ${__field.labels.feature}")
	if want := []string{"feature", "model_id", "x"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
