package dashboards

// securitySignals selects the rows of the access signals (caller_volume, caller_probing,
// caller_diversity, caller_ood, caller_harvest), the callers' history (caller_*_history,
// caller_new_heavy) and the poisoning signals (poisoning_*).
const securitySignals = "(signal LIKE 'caller\\_%' OR signal LIKE 'poisoning\\_%')"

// Security is the dashboard of who uses the models and what goes into their training data, across every
// model: the verdicts of the access signals and of the callers' history (caller_*) and of the poisoning
// signals (poisoning_*), the callers each signal names most, the poisoning signals by source, and the
// callers caller_windows stores (named, judged and the heaviest, store_callers a window).
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
		"The callers caller_windows stores (docs/signals.md), every model together: how many models and windows each was stored in, its calls, its calls scored at a threshold, its probes (within probe_margin of the threshold) and their share of its scored calls, its share of distinct inputs (caller_diversity), the share of its sampled inputs outside the window's central range (caller_ood) and the mean entropy of its predicted classes (caller_harvest), heaviest first. A window stores the callers a verdict names, those judged (by default 100 calls of a kind of their own), then the heaviest up to signals.access.store_callers; its light callers are kept in model_windows (light_callers, their calls alone), not here, so a caller's models, windows and calls as a light caller are not counted.",
		GridPos{X: 0, Y: 18, W: 24, H: 10}, ClickHouse, chTable(sql(
			"SELECT caller, uniqExact(model_id) AS models, sum(calls) AS total_calls, sum(scored_calls) AS total_scored,",
			"       sum(probes) AS total_probes,",
			"       round(total_probes / greatest(sum(scored_calls - scored_overcount), 1), 4) AS probe_share,",
			"       round(sum(distinct_inputs) / greatest(sum(input_calls - input_overcount), 1), 4) AS distinct_share,",
			"       round(sum(ood_outside) / greatest(sum(ood_sampled), 1), 4) AS ood_share,",
			"       round(sum(class_entropy * class_calls) / greatest(sum(class_calls), 1), 4) AS class_entropy,",
			"       uniqExact(window_start) AS windows",
			"FROM caller_windows FINAL",
			"WHERE $__timeFilter(window_start)",
			"GROUP BY caller",
			"ORDER BY total_calls DESC, caller",
			"LIMIT 100",
		)))

	byCaller := topSubjects(4, "Top callers by signal",
		"Per access or caller-history signal, the callers it named as a warning or critical in the time range, every model together: how many windows at each severity, the largest effect, the models, and the evidence of its worst verdict, the most critical first.",
		28, "caller", "caller")
	bySource := topSubjects(5, "Poisoning by source",
		"Per poisoning signal, the sources, values and labels it named as a warning or critical in the time range (a feedback source flipping labels, a flooded content hash, a trigger value, a proposed label with spectral outliers), every model together: windows at each severity, the largest effect, the models and the evidence of its worst verdict.",
		38, "poisoning", "subject")

	return newDashboard("driftwatch-security", "driftwatch / Security",
		"Who calls the models and what goes into their training data: the access and poisoning signals of every model, from driftwatch's ClickHouse tables.",
		nil, []Panel{verdicts, latest, callers, byCaller, bySource})
}

// topSubjects is a table of the subjects (not "*") the signals named family_* gave a warning or a
// critical verdict in the time range, per signal: windows at each severity, the largest effect, the
// models (their ids), and the evidence of the worst verdict (critical first, then the largest effect);
// the subject column is named subject.
func topSubjects(id int, title, desc string, y int, family, subject string) Panel {
	return table(id, title, desc, GridPos{X: 0, Y: y, W: 24, H: 10}, ClickHouse, chTable(sql(
		"SELECT signal, subject AS "+subject+", countIf(severity = 'critical') AS critical, countIf(severity = 'warning') AS warnings,",
		"       round(max(effect), 4) AS max_effect, groupUniqArray(model_id) AS models,",
		"       argMax(evidence, tuple(severity = 'critical', effect)) AS worst_evidence",
		"FROM signals FINAL",
		"WHERE signal LIKE '"+family+"\\_%' AND subject != '*' AND severity != 'ok' AND $__timeFilter(window_start)",
		"GROUP BY signal, subject",
		"ORDER BY critical DESC, warnings DESC, max_effect DESC, signal, "+subject,
		"LIMIT 200",
	)))
}
