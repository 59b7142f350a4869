package dashboards

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promQL returns the expression of a Prometheus target as Prometheus receives it with every
// variable set to All (.*) and $__rate_interval to 2m.
func promQL(expr string) string {
	return strings.NewReplacer("$__rate_interval", "2m", "$instance", ".*", "$model_id", ".*", "$test", ".*").Replace(expr)
}

// promRules writes the expressions of every Prometheus panel of every dashboard as recording rules
// (record: panel:<uid>:<panel id>:<refId>) into dir and returns the file name.
func promRules(t *testing.T, dir string) string {
	t.Helper()
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range All() {
			if !yield(name) {
				return
			}
		}
	})
	for _, name := range names {
		d := All()[name]
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.Type != Prometheus.Type {
					continue
				}
				uid := strings.ReplaceAll(d.UID, "-", "_")
				rules = append(rules, rule{Record: fmt.Sprintf("panel:%s:%d:%s", uid, p.ID, tg.RefID), Expr: promQL(tg.Expr)})
			}
		}
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "panels", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "panels.rules.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return "panels.rules.yml"
}

// TestPrometheusPanelsPromtool parses every Prometheus query of the dashboards with promtool, and
// evaluates the risk-budget panels of the pipeline dashboard on budget gauges as driftwatch exports
// them: the lowest budget left per model and budget, the highest burn rate per window (over
// instances), the burn alerts fired per bucket and the silenced and inhibited alerts.
func TestPrometheusPanelsPromtool(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	file := promRules(t, dir)
	tests := `rule_files: [` + file + `]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'driftwatch_alerts_budget_remaining_ratio{instance="a",budget="fraud",model="fraud-eu"}'
        values: '1x5 0.5x5'
      - series: 'driftwatch_alerts_budget_burn_rate{instance="a",budget="fraud",model="fraud-eu",window="1h"}'
        values: '0+2x10'
      - series: 'driftwatch_alerts_budget_burn_rate{instance="b",budget="fraud",model="fraud-eu",window="1h"}'
        values: '1x10'
      - series: 'driftwatch_alerts_budget_burn_alerts_total{instance="a",budget="fraud",alert="fast"}'
        values: '0x5 1x5'
      - series: 'driftwatch_alerts_silenced{instance="a"}'
        values: '2x10'
      - series: 'driftwatch_alerts_inhibited{instance="a"}'
        values: '3x10'
    promql_expr_test:
      - expr: 'panel:driftwatch_pipeline:10:A'
        eval_time: 10m
        exp_samples:
          - labels: 'panel:driftwatch_pipeline:10:A{budget="fraud",model="fraud-eu"}'
            value: 0.5
      - expr: 'panel:driftwatch_pipeline:11:A'
        eval_time: 10m
        exp_samples:
          - labels: 'panel:driftwatch_pipeline:11:A{budget="fraud",model="fraud-eu",window="1h"}'
            value: 20
      - expr: 'panel:driftwatch_pipeline:12:A'
        eval_time: 7m
        exp_samples:
          - labels: 'panel:driftwatch_pipeline:12:A{budget="fraud",alert="fast"}'
            value: 1
      - expr: 'panel:driftwatch_pipeline:12:B'
        eval_time: 10m
        exp_samples:
          - labels: 'panel:driftwatch_pipeline:12:B'
            value: 2
      - expr: 'panel:driftwatch_pipeline:12:C'
        eval_time: 10m
        exp_samples:
          - labels: 'panel:driftwatch_pipeline:12:C'
            value: 3
`
	if err := os.WriteFile(filepath.Join(dir, "panels_test.yml"), []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", file}, {"test", "rules", "panels_test.yml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
