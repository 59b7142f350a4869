package dashboards

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/driftwatch.rules.yml"
	rulesTestFile = "prometheus/driftwatch.rules_test.yml"
)

// promtool returns the path of promtool, failing the test when it is not installed.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus, or make test installs it): %v", err)
	}
	return p
}

// TestRulesPromtool checks the alerting rules and runs their unit tests with promtool.
func TestRulesPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", filepath.Base(rulesTestFile)},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = filepath.Dir(rulesFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestRulesTested checks that every alert of the rules file is expected to fire somewhere in the
// unit tests (so that a rule cannot go untested) and carries a severity and a summary.
func TestRulesTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, rulesFile, &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, rulesTestFile, &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s is never expected to fire in %s", r.Alert, rulesTestFile)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: want summary and description annotations", r.Alert)
			}
		}
	}
	if n < 6 {
		t.Errorf("%d alerts in %s, want at least 6", n, rulesFile)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
}

var metricName = regexp.MustCompile(`\bdriftwatch_[a-z0-9_]+\b`)

// TestMetricNamesExist checks that every driftwatch metric named by the Prometheus panels, the
// Prometheus variables and the alerting rules is registered by driftwatch's code: each must appear
// as a string literal in a non-test .go file outside this package (histogram series by their
// base name).
func TestMetricNamesExist(t *testing.T) {
	used := map[string]string{} // metric → where
	for _, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Datasource.UID == Prometheus.UID {
				for _, m := range metricName.FindAllString(v.Query, -1) {
					used[m] = d.UID + " variable " + v.Name
				}
			}
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				for _, m := range metricName.FindAllString(tg.Expr, -1) {
					used[m] = d.UID + " panel " + p.Title
				}
			}
		}
	}
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metricName.FindAllString(string(rules), -1) {
		used[m] = rulesFile
	}
	if len(used) < 9 {
		t.Fatalf("found %d metric names in the dashboards and rules, want at least 9: %v", len(used), used)
	}

	var src strings.Builder
	err = filepath.WalkDir("..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if name := e.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "dashboards" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			src.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code := src.String()
	var missing []string
	for m, where := range used {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && strings.Contains(code, `"`+b+`"`) {
				base = b
			}
		}
		if !strings.Contains(code, `"`+base+`"`) {
			missing = append(missing, m+" ("+where+")")
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("metric %s is not registered by driftwatch's code", m)
	}
}
