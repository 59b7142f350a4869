package dashboards

// securitySignals selects the rows of the access and poisoning signals.
const securitySignals = "(signal IN ('caller_volume', 'caller_probing') OR signal LIKE 'poisoning\\_%')"

// Security is the dashboard of who uses the models and what goes into their training data, across every
// model: the verdicts of the access signals (caller_volume, caller_probing) and the poisoning signals
// (poisoning_*), and the callers the access signals tracked (caller_windows).
func Security() Dashboard {
	verdicts := timeseries(1, "Security verdicts per window",
		"Warnings and critical verdicts of the access and poisoning signals per time bucket, every model together: one line per signal and severity.",
		GridPos{X: 0, Y: 0, W: 24, H: 8}, ClickHouse, "short", chTimeseries(sql(
			"SELECT "+bucket+",",
			"       countIf(severity = 'warning') AS warnings,",
			"       countIf(severity = 'critical') AS critical",
			"FROM signals FINAL",
			"WHERE "+securitySignals+" AND severity != 'ok' AND $__timeFilter(window_start)",
			"GROUP BY time",
			"ORDER BY time",
		)))
	verdicts.Interval = "1m"

	latest := severityColors(table(2, "Security verdicts",
		"Every warning and critical verdict of the access and poisoning signals in the time range, newest first: the model version, the signal, its subject (a caller, a feedback source, a value), the statistic, the effect and the evidence an analyst starts from.",
		GridPos{X: 0, Y: 8, W: 24, H: 10}, ClickHouse, chTable(sql(
			"SELECT window_start, model_id, model_version, signal, subject, severity,",
			"       round(statistic, 4) AS statistic, round(effect, 4) AS effect, evidence",
			"FROM signals FINAL",
			"WHERE "+securitySignals+" AND severity != 'ok' AND $__timeFilter(window_start)",
			"ORDER BY window_start DESC, multiIf(severity = 'critical', 0, 1), model_id, model_version, signal, subject",
			"LIMIT 1000",
		))), "severity")

	callers := table(3, "Callers across models",
		"The callers the access signals tracked (caller_windows, docs/signals.md), every model together: how many models and windows each called, its calls, its calls scored at a threshold, its probes (within probe_margin of the threshold) and their share of its scored calls, heaviest first.",
		GridPos{X: 0, Y: 18, W: 24, H: 10}, ClickHouse, chTable(sql(
			"SELECT caller, uniqExact(model_id) AS models, sum(calls) AS total_calls, sum(scored_calls) AS total_scored,",
			"       sum(probes) AS total_probes,",
			"       round(total_probes / greatest(sum(scored_calls - scored_overcount), 1), 4) AS probe_share,",
			"       uniqExact(window_start) AS windows",
			"FROM caller_windows FINAL",
			"WHERE $__timeFilter(window_start)",
			"GROUP BY caller",
			"ORDER BY total_calls DESC, caller",
			"LIMIT 100",
		)))

	return newDashboard("driftwatch-security", "driftwatch / Security",
		"Who calls the models and what goes into their training data: the access and poisoning signals of every model, from driftwatch's ClickHouse tables.",
		nil, []Panel{verdicts, latest, callers})
}
