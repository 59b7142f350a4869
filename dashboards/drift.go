package dashboards

import "strings"

// The SQL of the model drift dashboard runs on ClickHouse 18.16 and on current servers: it uses
// only the plugin macros $__timeFilter, $__interval_s and $__conditionalAll (not $__timeInterval or
// $__timeGroup, which expand to toStartOfInterval, missing before 19.3), buckets time with intDiv,
// and reads the per-window tables with FINAL so that a window written twice counts once.
//
// Model ids, versions and feature names come from untrusted producers, and a dashboard URL can set
// a variable to any string, so no variable value is ever written into the SQL as text. Each variable
// offers the hex encoding of a name as its value (the name is only the text shown), and a query
// takes a value as '${name:percentencode}': Grafana's percent encoding leaves only A-Z a-z 0-9 - _ . ~
// and %, none of which can end a ClickHouse string literal or start a macro, and the query decodes
// the literal with unhex. Whatever the value, it stays inside its literal; hex keeps names exact
// (no hash collisions) and lets an equality on model_id use the primary key.

// bucket is the time column of every time series query: window starts rounded down to the panel's
// interval (at least the 1m window size, see Panel.Interval).
const bucket = "toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s) AS time"

// choices is the query of a variable over column: the hex of each distinct name as the value Grafana
// interpolates, the name as the text it shows. The ClickHouse plugin takes the first column as the
// value and the second as the text; the aliases name them as Grafana's SQL data sources do.
// Rows must also pass the conditions and the time range.
func choices(column, table string, conditions ...string) string {
	return sql(
		"SELECT DISTINCT hex("+column+") AS __value, "+column+" AS __text FROM "+table,
		"WHERE "+strings.Join(append(conditions, "$__timeFilter(window_start)"), " AND ")+" ORDER BY __text")
}

// equals selects the rows whose column is the name chosen in a single-valued variable.
func equals(column, variable string) string {
	return column + " = unhex('${" + variable + ":percentencode}')"
}

// oneOf selects the rows whose column is one of the names chosen in a multi-valued variable. Grafana
// percent-encodes the list as {v1,v2,...}; decoded, its hex values are the runs of hex digits.
func oneOf(column, variable string) string {
	return "has(arrayMap(x -> unhex(x), extractAll(decodeURLComponent('${" + variable + ":percentencode}'), '[0-9A-F]+')), " +
		column + ")"
}

// versionFilter selects the dashboard's model version.
var versionFilter = equals("model_id", "model_id") + " AND " + equals("model_version", "model_version")

// featureFilter selects the chosen features, or all of them.
var featureFilter = "$__conditionalAll(" + oneOf("feature", "feature") + ", $feature)"

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
// per feature, the latest severity of every test, the behaviour signals (what fired, the estimated
// performance, the realized accuracy next to the estimated one, the heaviest callers, the latest verdict of every signal and subject) and the alert history of one model
// version.
func ModelDrift() Dashboard {
	vars := []Variable{
		queryVariable(ClickHouse, "model_id", "Model",
			choices("model_id", "inference_windows"), 2, false),
		queryVariable(ClickHouse, "model_version", "Version",
			choices("model_version", "inference_windows", equals("model_id", "model_id")), 2, false),
		queryVariable(ClickHouse, "feature", "Feature",
			choices("feature", "feature_windows", versionFilter), 2, true),
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
		"Population stability index of each numeric and categorical feature against its reference (worst partition per bucket). Dashed lines: the PSI decision's default effect levels, warning 0.15 and critical 0.25; a warning also needs significance (PSI's chi-square null, Benjamini–Hochberg).",
		GridPos{X: 0, Y: 8, W: 12, H: 8}, ClickHouse, "none", chTimeseries(statisticQuery("psi", "psi")))), 0.15, 0.25)
	js := perFeature(timeseries(5, "Jensen–Shannon distance per feature",
		"Jensen–Shannon distance (base 2, 0 to 1) of each feature's binned distribution against the reference. Informational: it takes no decision.",
		GridPos{X: 12, Y: 8, W: 12, H: 8}, ClickHouse, "none", chTimeseries(statisticQuery("js", "js"))))
	wasserstein := thresholdLines(perFeature(timeseries(6, "Normalized Wasserstein per feature",
		"Wasserstein-1 distance between the window's and the reference's samples of each numeric feature, divided by the reference standard deviation: the effect size of the KS decision. Dashed lines: its default levels, warning 0.35 and critical 0.75.",
		GridPos{X: 0, Y: 16, W: 12, H: 8}, ClickHouse, "none", chTimeseries(statisticQuery("wasserstein_norm", "wasserstein_norm")))), 0.35, 0.75)
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

	fired := timeseries(10, "Behaviour signals that fired",
		"Verdicts of the behaviour signals (error_rate, latency, class_share, confidence, margin_density, the GenAI signals, estimated_performance: docs/signals.md) that were warning or critical, per signal and time bucket.",
		GridPos{X: 0, Y: 34, W: 12, H: 8}, ClickHouse, "short", chTimeseries(sql(
			"SELECT "+bucket+", signal, countIf(severity != 'ok') AS fired",
			"FROM signals FINAL",
			"WHERE "+versionFilter+" AND $__timeFilter(window_start)",
			"GROUP BY time, signal",
			"ORDER BY time, signal",
		)))
	fired.FieldConfig.Defaults.DisplayName = "${__field.labels.signal}"
	fired.FieldConfig.Defaults.Decimals = new(0)
	estimated := timeseries(11, "Estimated performance",
		"Accuracy, precision, recall, F1 and ROC AUC of a binary classifier estimated from its calibrated scores before labels arrive (CBPE), averaged over the windows of each time bucket.",
		GridPos{X: 12, Y: 34, W: 12, H: 8}, ClickHouse, "percentunit", chTimeseries(sql(
			"SELECT "+bucket+", subject, avg(statistic) AS estimate",
			"FROM signals FINAL",
			"WHERE "+versionFilter+" AND signal = 'estimated_performance' AND NOT isNaN(statistic)",
			"  AND $__timeFilter(window_start)",
			"GROUP BY time, subject",
			"ORDER BY time, subject",
		)))
	estimated.FieldConfig.Defaults.DisplayName = "${__field.labels.subject}"
	realized := timeseries(13, "Realized and estimated accuracy",
		"Accuracy from the labels landed so far (realized_performance: performance_windows, docs/signals.md) next to the accuracy estimated from the scores before labels (estimated_performance), averaged over the windows of each time bucket: concept drift shows as realized falling away from estimated.",
		GridPos{X: 0, Y: 42, W: 24, H: 8}, ClickHouse, "percentunit", chTimeseries(sql(
			"SELECT "+bucket+", signal, avg(statistic) AS accuracy",
			"FROM signals FINAL",
			"WHERE "+versionFilter+" AND signal IN ('realized_performance', 'estimated_performance') AND subject = 'accuracy'",
			"  AND NOT isNaN(statistic) AND $__timeFilter(window_start)",
			"GROUP BY time, signal",
			"ORDER BY time, signal",
		)))
	realized.FieldConfig.Defaults.DisplayName = "${__field.labels.signal}"
	const signalRank = "(window_start, multiIf(severity = 'critical', 2, severity = 'warning', 1, 0))"
	verdicts := nanAsDash(nanAsDash(severityColors(table(12, "Latest verdict per signal and subject",
		"For every signal and subject of the version, the newest window in the time range: its statistic, p-value (- when not tested), effect, the level decided against and the evidence, worst first.",
		GridPos{X: 0, Y: 50, W: 24, H: 10}, ClickHouse, chTable(sql(
			"SELECT signal, subject,",
			"       max(window_start) AS last_window,",
			"       argMax(statistic, "+signalRank+") AS last_statistic,",
			"       argMax(p_value, "+signalRank+") AS last_p_value,",
			"       argMax(effect, "+signalRank+") AS last_effect,",
			"       argMax(threshold, "+signalRank+") AS last_threshold,",
			"       argMax(severity, "+signalRank+") AS last_severity,",
			"       argMax(evidence, "+signalRank+") AS last_evidence",
			"FROM signals FINAL",
			"WHERE "+versionFilter+" AND $__timeFilter(window_start)",
			"GROUP BY signal, subject",
			"ORDER BY multiIf(last_severity = 'critical', 0, last_severity = 'warning', 1, 2), signal, subject",
			"LIMIT 500",
		))), "last_severity"), "last_p_value"), "last_threshold")

	callers := table(14, "Heaviest callers",
		"The callers caller_windows stores of the version's windows (docs/signals.md): calls, calls scored at a threshold, probes (within probe_margin of it) and their share of its scored calls, and the windows it was stored in, heaviest first. A window stores the callers a verdict names, those judged (by default 100 calls of a kind of their own), then the heaviest up to signals.access.store_callers; its light callers are kept in model_windows (light_callers, their calls alone), not here, so a caller's calls and windows as a light caller are not counted.",
		GridPos{X: 0, Y: 60, W: 24, H: 10}, ClickHouse, chTable(sql(
			"SELECT caller, sum(calls) AS total_calls, sum(scored_calls) AS total_scored, sum(probes) AS total_probes,",
			"       round(total_probes / greatest(sum(scored_calls - scored_overcount), 1), 4) AS probe_share,",
			"       uniqExact(window_start) AS windows",
			"FROM caller_windows FINAL",
			"WHERE "+versionFilter+" AND $__timeFilter(window_start)",
			"GROUP BY caller",
			"ORDER BY total_calls DESC, caller",
			"LIMIT 100",
		)))

	history := severityColors(severityColors(table(9, "Alert history",
		"State changes (record = state: pending, firing, resolved, inactive, handed_over) and delivery attempts (record = delivery: receiver, attempt, outcome, HTTP status, error) of the version's alerts, drift (feature) and signal (signal, subject), newest first.",
		GridPos{X: 0, Y: 70, W: 24, H: 10}, ClickHouse, chTable(sql(
			"SELECT event_time, record, state, severity, feature, signal, subject, alert_key, statistic, threshold,",
			"       receiver, attempt, outcome, http_status, error, summary",
			"FROM alerts",
			"WHERE "+versionFilter+" AND $__timeFilter(event_time)",
			"ORDER BY event_time DESC, alert_key, record",
			"LIMIT 1000",
		))), "severity"), "state")

	panels := []Panel{events, lateRejected, drifted, psi, js, wasserstein, pvalue, latest, fired, estimated, realized, verdicts, callers, history}
	for i := range panels {
		if panels[i].Type == "timeseries" {
			panels[i].Interval = "1m" // the default window size: finer buckets would only be sparser
		}
	}
	return newDashboard("driftwatch-model-drift", "driftwatch / Model drift",
		"Drift of one model version's inputs against its pinned reference, from driftwatch's ClickHouse tables.",
		vars, panels)
}
