package dashboards

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/storage"
)

// hostileNames are model ids, versions and feature names a producer might store to break out of a
// dashboard query: quote and backslash breakouts, statements, control characters, Grafana and
// plugin syntax, list separators, invalid UTF-8, the hex of another model's id and a long value.
var hostileNames = []string{
	`x\' OR 1=1 --`,
	`x\\' OR 1=1 --`,
	`'); DROP TABLE inference_windows; --`,
	`' OR ''='`,
	`\`,
	`"; SELECT 1; --`,
	"tab\t newline\n cr\r bell\a esc\x1b del\x7f",
	"модель 模型 🚀 \u202eRTL\u200b",
	"\xff\xfe not UTF-8 '\\",
	`$__timeFilter(window_start) ${model_id} $feature [[feature]] $__all`,
	"a,b {c} %27 %7B %",
	"6672617564",                // the hex of "fraud"
	strings.Repeat(`\'ä`, 4096), // 16 KiB
}

// integrity describes the test database: its tables (engine and definition), their row counts and
// pending mutations. A query that dropped, altered, emptied or mutated a table changes it.
func integrity(t *testing.T, ctx context.Context, s *storage.Store) string {
	t.Helper()
	var b strings.Builder
	tables := query(t, ctx, s, "SELECT name, engine, create_table_query FROM system.tables WHERE database = currentDatabase() ORDER BY name")
	for _, row := range tables.rows {
		n := query(t, ctx, s, "SELECT count() FROM `"+row[0].(string)+"`")
		fmt.Fprintf(&b, "%v %v rows\n", row, n.rows[0][0])
	}
	m := query(t, ctx, s, "SELECT count() FROM system.mutations WHERE database = currentDatabase()")
	fmt.Fprintf(&b, "mutations %v\n", m.rows[0][0])
	return b.String()
}

// TestClickHouseHostileValues stores models whose ids, versions and feature names are hostile,
// offers every option of every variable as Grafana would, substitutes each chosen value into every
// panel query with the dashboard's own formats and runs it. Every query must succeed and show
// exactly what the same query shows over a database holding only the chosen model version's rows;
// values set directly (as a crafted URL can) must select nothing; and no table may change.
func TestClickHouseHostileValues(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, solo := openStore(t, ctx), openStore(t, ctx)
	now := time.Now().UTC()
	base := now.Truncate(time.Minute).Add(-30 * time.Minute)
	sel := selection{from: now.Add(-time.Hour), to: now.Add(5 * time.Minute)}

	// Model i is hostileNames[i], with versions hostileNames[i+1] and v1 and features
	// hostileNames[i+2] and amount: version and feature names that other models have too.
	fx := fraudFixture(base)
	want := map[string]map[string][]string{"fraud": {"v1": {"amount", "country"}}, "churn": {"v7": {"tenure"}}}
	n := len(hostileNames)
	hostile := map[string]bool{} // models whose every panel has rows
	for i, model := range hostileNames {
		hostile[model] = true
		versions := []string{hostileNames[(i+1)%n], "v1"}
		features := []string{hostileNames[(i+2)%n], "amount"}
		fx.add(hostileFixture(i, model, versions, features, base))
		want[model] = map[string][]string{versions[0]: features, versions[1]: features}
	}
	fx.write(t, ctx, s, nil)
	before := integrity(t, ctx, s)
	for _, table := range []string{"inference_windows", "feature_windows", "drift_scores", "alerts"} {
		if !strings.Contains(before, "["+table+" ") {
			t.Fatalf("table %s missing before the test:\n%s", table, before)
		}
	}
	d, vars := modelDrift(t)

	models := variableOptions(t, ctx, s, vars["model_id"], sel)
	if got, wantModels := texts(models), keys(want); !slices.Equal(got, wantModels) {
		t.Fatalf("models offered %q, want %q", got, wantModels)
	}
	ran := 0
	for _, m := range models {
		sel := sel.with("model_id", []string{m.value}, false, false)
		versions := variableOptions(t, ctx, s, vars["model_version"], sel)
		if got, wantVersions := texts(versions), keys(want[m.text]); !slices.Equal(got, wantVersions) {
			t.Errorf("model %s: versions offered %q, want %q", short(m.text), got, wantVersions)
		}
		for _, v := range versions {
			sel := sel.with("model_version", []string{v.value}, false, false)
			features := variableOptions(t, ctx, s, vars["feature"], sel)
			if got, wantFeatures := texts(features), slices.Sorted(slices.Values(want[m.text][v.text])); !slices.Equal(got, wantFeatures) {
				t.Errorf("model %s version %s: features offered %q, want %q", short(m.text), short(v.text), got, wantFeatures)
			}
			// The oracle: the same queries over only this model version's rows.
			for _, table := range []string{"inference_windows", "feature_windows", "drift_scores", "alerts"} {
				if err := solo.Exec(ctx, "TRUNCATE TABLE "+table); err != nil {
					t.Fatal(err)
				}
			}
			fx.write(t, ctx, solo, func(model, version string) bool { return model == m.text && version == v.text })

			// Feature choices: All, each feature alone, and every feature picked one by one (a list).
			type choice struct {
				sel    selection
				chosen []string // feature texts; nil for All
			}
			choices := []choice{{sel: sel.with("feature", values(features), true, true)}}
			for _, f := range features {
				choices = append(choices, choice{sel.with("feature", []string{f.value}, true, false), []string{f.text}})
			}
			if len(features) > 1 {
				choices = append(choices, choice{sel.with("feature", values(features), true, false), texts(features)})
			}
			for _, p := range d.Panels {
				for _, tg := range p.Targets {
					if tg.Datasource.UID != ClickHouse.UID {
						continue
					}
					for ci, c := range choices {
						if ci > 0 && !slices.Contains(referencedVariables(tg.RawSQL), "feature") {
							break
						}
						where := fmt.Sprintf("model %s version %s, panel %q", short(m.text), short(v.text), p.Title)
						if c.chosen != nil {
							where += fmt.Sprintf(", %d features from %s", len(c.chosen), short(c.chosen[0]))
						}
						q := expand(t, tg.RawSQL, c.sel)
						got, oracle := query(t, ctx, s, q), query(t, ctx, solo, q)
						ran++
						if fmt.Sprint(got.rows) != fmt.Sprint(oracle.rows) {
							t.Errorf("%s: %d rows differ from the %d rows over this model version alone:\n%s", where, len(got.rows), len(oracle.rows), q)
						}
						if hostile[m.text] && len(got.rows) == 0 {
							t.Errorf("%s: no rows:\n%s", where, q)
						}
						if f := got.column("feature"); c.chosen != nil && f != nil && p.Title != "Alert history" {
							shown := slices.Compact(slices.Sorted(slices.Values(strs(f))))
							if ok := !slices.ContainsFunc(shown, func(f string) bool { return !slices.Contains(c.chosen, f) }); !ok ||
								hostile[m.text] && !slices.Equal(shown, slices.Sorted(slices.Values(c.chosen))) {
								t.Errorf("%s: shows features %q", where, shown)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("ran %d panel queries over %d models", ran, len(models))

	// A crafted URL sets a variable to any string, not only to an offered value. Unless the string
	// happens to be hex (and so some name's value), it selects nothing.
	for _, name := range hostileNames {
		_, err := hex.DecodeString(name)
		isHex := err == nil
		raw := sel.with("model_id", []string{name}, false, false).
			with("model_version", []string{name}, false, false).
			with("feature", []string{name}, true, false)
		for _, v := range []string{"model_version", "feature"} {
			if opts := variableOptions(t, ctx, s, vars[v], raw); len(opts) != 0 && !isHex {
				t.Errorf("model_id and model_version set to %s: variable %s offers %d options", short(name), v, len(opts))
			}
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.UID != ClickHouse.UID {
					continue
				}
				if res := query(t, ctx, s, expand(t, tg.RawSQL, raw)); len(res.rows) != 0 && !isHex {
					t.Errorf("variables set to %s: panel %q shows %d rows", short(name), p.Title, len(res.rows))
				}
			}
		}
	}

	if after := integrity(t, ctx, s); after != before {
		t.Errorf("the database changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestSingleQuoteBreaksOut shows, on the real server, the defect the dashboards avoid: Grafana's
// singlequote and sqlstring formats escape quotes but not backslashes, and ClickHouse reads a
// backslash as an escape, so a stored model id ends the literal and the rest of it runs as SQL.
func TestSingleQuoteBreaksOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openStore(t, ctx)
	base := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	fx := fraudFixture(base)
	fx.add(hostileFixture(0, hostileNames[0], []string{"v1"}, []string{"amount"}, base))
	fx.write(t, ctx, s, nil)
	total := query(t, ctx, s, "SELECT count() FROM inference_windows").rows[0][0]
	sel := selection{}.with("model_id", []string{hostileNames[0]}, false, false)
	for _, format := range []string{"singlequote", "sqlstring"} {
		q := expand(t, "SELECT count() FROM inference_windows WHERE model_id = ${model_id:"+format+"}", sel)
		if got := query(t, ctx, s, q).rows[0][0]; got != total {
			t.Errorf("%s: %v rows, want all %v (the id %s breaks out of the literal):\n%s", format, got, total, hostileNames[0], q)
		}
	}
	q := expand(t, "SELECT count() FROM inference_windows WHERE model_id = unhex('${model_id:percentencode}')",
		sel.with("model_id", []string{strings.ToUpper(hex.EncodeToString([]byte(hostileNames[0])))}, false, false))
	if got := query(t, ctx, s, q).rows[0][0]; got != uint64(3) {
		t.Errorf("percentencode of the hex value: %v rows, want the model's 3:\n%s", got, q)
	}
}

// keys returns the keys of m, sorted.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
