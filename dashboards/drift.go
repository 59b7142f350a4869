package dashboards

import "strings"

// The SQL of the model drift dashboard runs on ClickHouse 18.16 and on current servers: it uses
// only the plugin macros $__timeFilter, $__interval_s and $__conditionalAll (not $__timeInterval or
// $__timeGroup, which expand to toStartOfInterval, missing before 19.3), buckets time with intDiv,
// and reads the per-window tables with FINAL so that a window written twice counts once.

// bucket is the time column of every time series query: window starts rounded down to the panel's
// interval (at least the 1m window size, see Panel.Interval).
const bucket = "toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s) AS time"

// versionFilter selects the dashboard's model version and time range.
const versionFilter = "model_id = ${model_id:singlequote} AND model_version = ${model_version:singlequote}"

// featureFilter selects the chosen features, or all of them.
const featureFilter = "$__conditionalAll(feature IN (${feature:singlequote}), $feature)"

func sql(lines ...string) string { return strings.Join(lines, "\n") }

func chTimeseries(sql string) Target {
	return Target{RefID: "A", Datasource: ClickHouse, EditorType: "sql", RawSQL: sql, Format: 0}
}

func chTable(sql string) Target {
	return Target{RefID: "A", Datasource: ClickHouse, EditorType: "sql", RawSQL: sql, Format: 1}
}

// statisticQuery is the worst value of one test per feature and time bucket (max over partitions,
// each of which scores its own share of a window).
func statisticQuery(test, column string) string {
	return sql(
		"SELECT "+bucket+", feature, max(statistic) AS "+column,
		"FROM drift_scores FINAL",
		"WHERE "+versionFilter+" AND test = '"+test+"'",
		"  AND "+featureFilter+" AND $__timeFilter(window_start)",
		"GROUP BY time, feature",
		"ORDER BY time, feature",
	)
}

// perFeature names each series of a long-format query by its feature label.
func perFeature(p Panel) Panel {
	p.FieldConfig.Defaults.DisplayName = "${__field.labels.feature}"
	return p
}

// ModelDrift is the "driftwatch / Model drift" dashboard over ClickHouse: traffic, drift statistics
// per feature, the latest severity of every test and the alert history of one model version.
func ModelDrift() Dashboard {
	vars := []Variable{
		queryVariable(ClickHouse, "model_id", "Model", sql(
			"SELECT DISTINCT model_id FROM inference_windows",
			"WHERE $__timeFilter(window_start) ORDER BY model_id"), 2, false),
		queryVariable(ClickHouse, "model_version", "Version", sql(
			"SELECT DISTINCT model_version FROM inference_windows",
			"WHERE model_id = ${model_id:singlequote} AND $__timeFilter(window_start) ORDER BY model_version"), 2, false),
		queryVariable(ClickHouse, "feature", "Feature", sql(
			"SELECT DISTINCT feature FROM feature_windows",
			"WHERE "+versionFilter+" AND $__timeFilter(window_start) ORDER BY feature"), 2, true),
	}

	events := timeseries(1, "Events per window",
		"Events counted per closed window of the model version (summed over Kafka partitions), averaged over the windows of each time bucket.",
		GridPos{X: 0, Y: 0, W: 8, H: 8}, ClickHouse, "short", chTimeseries(sql(
			"SELECT "+bucket+", sum(events) / uniqExact(window_start) AS events_per_window",
			"FROM inference_windows FINAL",
			"WHERE "+versionFilter+" AND $__timeFilter(window_start)",
			"GROUP BY time",
			"ORDER BY time",
		)))
	lateRejected := timeseries(2, "Late and rejected events",
		"Events of the model version that arrived after their window had closed (late, counted in the next window) and events the decoder refused (rejected, sent to the dead-letter topic), per time bucket.",
		GridPos{X: 8, Y: 0, W: 8, H: 8}, ClickHouse, "short", chTimeseries(sql(
			"SELECT "+bucket+", sum(late_events) AS late, sum(rejected_events) AS rejected",
			"FROM inference_windows FINAL",
			"WHERE "+versionFilter+" AND $__timeFilter(window_start)",
			"GROUP BY time",
			"ORDER BY time",
		)))
	drifted := timeseries(3, "Drifted features per window",
		"Features with at least one test saying drift (warning or critical) and features with a critical test, per time bucket; all features of the version, whatever the Feature selection.",
		GridPos{X: 16, Y: 0, W: 8, H: 8}, ClickHouse, "short", chTimeseries(sql(
			"SELECT "+bucket+",",
			"       uniqExactIf(feature, drifted = 1) AS drifted_features,",
			"       uniqExactIf(feature, severity = 'critical') AS critical_features",
			"FROM drift_scores FINAL",
			"WHERE "+versionFilter+" AND $__timeFilter(window_start)",
			"GROUP BY time",
			"ORDER BY time",
		)))
	drifted.FieldConfig.Defaults.Decimals = new(0)

	psi := thresholdLines(perFeature(timeseries(4, "PSI per feature",
		"Population stability index of each numeric and categorical feature against its reference (worst partition per bucket). Dashed lines: the PSI decision's default effect levels, warning 0.005 and critical 0.25; a warning also needs significance (PSI's chi-square null, Benjamini–Hochberg).",
		GridPos{X: 0, Y: 8, W: 12, H: 8}, ClickHouse, "none", chTimeseries(statisticQuery("psi", "psi")))), 0.005, 0.25)
	js := perFeature(timeseries(5, "Jensen–Shannon distance per feature",
		"Jensen–Shannon distance (base 2, 0 to 1) of each feature's binned distribution against the reference. Informational: it takes no decision.",
		GridPos{X: 12, Y: 8, W: 12, H: 8}, ClickHouse, "none", chTimeseries(statisticQuery("js", "js"))))
	wasserstein := thresholdLines(perFeature(timeseries(6, "Normalized Wasserstein per feature",
		"Wasserstein-1 distance between the window's and the reference's samples of each numeric feature, divided by the reference standard deviation: the effect size of the KS decision. Dashed lines: its default levels, warning 0.05 and critical 0.25.",
		GridPos{X: 0, Y: 16, W: 12, H: 8}, ClickHouse, "none", chTimeseries(statisticQuery("wasserstein_norm", "wasserstein_norm")))), 0.05, 0.25)
	pvalue := perFeature(timeseries(7, "KS / chi-square p-value per feature",
		"Smallest p-value per bucket of the two-sample Kolmogorov–Smirnov test (numeric features) and the chi-square test (categorical features), on a log axis. A decision also needs the Benjamini–Hochberg adjusted p-value below analysis.fdr (0.01) and the effect size above its warning level.",
		GridPos{X: 12, Y: 16, W: 12, H: 8}, ClickHouse, "none", chTimeseries(sql(
			"SELECT "+bucket+", feature, min(p_value) AS min_p_value",
			"FROM drift_scores FINAL",
			"WHERE "+versionFilter+" AND test IN ('ks', 'chi2') AND NOT isNaN(p_value)",
			"  AND "+featureFilter+" AND $__timeFilter(window_start)",
			"GROUP BY time, feature",
			"ORDER BY time, feature",
		))))
	pvalue.FieldConfig.Defaults.Custom["scaleDistribution"] = map[string]any{"type": "log", "log": 10}
	delete(pvalue.FieldConfig.Defaults.Custom, "axisSoftMin")

	// rank orders severities so that argMax picks the worst partition of the newest window.
	const rank = "(window_start, multiIf(severity = 'critical', 2, severity = 'warning', 1, 0))"
	latest := nanAsDash(severityColors(table(8, "Latest severity per feature and test",
		"For every feature and test of the version, the newest window in the time range: its statistic, p-value (- for tests without one), threshold and severity, worst first.",
		GridPos{X: 0, Y: 24, W: 24, H: 10}, ClickHouse, chTable(sql(
			"SELECT feature, test,",
			"       max(window_start) AS last_window,",
			"       argMax(statistic, "+rank+") AS last_statistic,",
			"       argMax(p_value, "+rank+") AS last_p_value,",
			"       argMax(threshold, "+rank+") AS last_threshold,",
			"       argMax(severity, "+rank+") AS last_severity",
			"FROM drift_scores FINAL",
			"WHERE "+versionFilter+" AND "+featureFilter+" AND $__timeFilter(window_start)",
			"GROUP BY feature, test",
			"ORDER BY multiIf(last_severity = 'critical', 0, last_severity = 'warning', 1, 2), feature, test",
		))), "last_severity"), "last_p_value")

	history := severityColors(severityColors(table(9, "Alert history",
		"State changes (record = state: pending, firing, resolved) and delivery attempts (record = delivery: receiver, attempt, outcome, HTTP status, error) of the version's alerts, newest first.",
		GridPos{X: 0, Y: 34, W: 24, H: 10}, ClickHouse, chTable(sql(
			"SELECT event_time, record, state, severity, feature, alert_key, statistic, threshold,",
			"       receiver, attempt, outcome, http_status, error, summary",
			"FROM alerts",
			"WHERE "+versionFilter+" AND $__timeFilter(event_time)",
			"ORDER BY event_time DESC, alert_key, record",
			"LIMIT 1000",
		))), "severity"), "state")

	panels := []Panel{events, lateRejected, drifted, psi, js, wasserstein, pvalue, latest, history}
	for i := range panels {
		if panels[i].Type == "timeseries" {
			panels[i].Interval = "1m" // the default window size: finer buckets would only be sparser
		}
	}
	return newDashboard("driftwatch-model-drift", "driftwatch / Model drift",
		"Drift of one model version's inputs against its pinned reference, from driftwatch's ClickHouse tables.",
		vars, panels)
}
