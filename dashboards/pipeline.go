package dashboards

// instance restricts every query of the pipeline dashboard to the chosen driftwatch processes.
const instance = `instance=~"$instance"`

func prom(expr, legend string) Target {
	return Target{RefID: "A", Datasource: Prometheus, Expr: expr, LegendFormat: legend, Range: true}
}

func withRefID(t Target, id string) Target {
	t.RefID = id
	return t
}

// Pipeline is the "driftwatch / Pipeline" dashboard over Prometheus: how driftwatch itself is doing,
// from Kafka consumption to ClickHouse writes and alert delivery, and the risk budgets of the models
// with their burn rates.
func Pipeline() Dashboard {
	vars := []Variable{
		queryVariable(Prometheus, "instance", "Instance",
			"label_values(driftwatch_ingest_messages_total, instance)", 1, true),
		queryVariable(Prometheus, "model_id", "Model",
			`label_values(driftwatch_drift_statistic{`+instance+`}, model_id)`, 1, true),
		queryVariable(Prometheus, "test", "Test",
			`label_values(driftwatch_drift_statistic{`+instance+`}, test)`, 1, true),
	}
	for i := range vars {
		vars[i].AllValue = ".*"
	}

	consumption := timeseries(1, "Consumption rate",
		"Kafka messages read per second, by topic (valid and rejected).",
		GridPos{X: 0, Y: 0, W: 8, H: 8}, Prometheus, "short",
		prom(`sum by (topic) (rate(driftwatch_ingest_messages_total{`+instance+`}[$__rate_interval]))`, "{{topic}}"))
	rejections := timeseries(2, "Rejections by reason",
		"Messages per second refused by decoding and written to the dead-letter topic, by reason.",
		GridPos{X: 8, Y: 0, W: 8, H: 8}, Prometheus, "short",
		prom(`sum by (reason) (rate(driftwatch_ingest_rejected_total{`+instance+`}[$__rate_interval]))`, "{{reason}}"))
	lag := timeseries(3, "Commit lag",
		"High watermark minus committed offset of each owned partition. Offsets are committed after a window is stored, so about one window of traffic is normal; steady growth means driftwatch falls behind.",
		GridPos{X: 16, Y: 0, W: 8, H: 8}, Prometheus, "short",
		prom(`max by (topic, partition) (driftwatch_ingest_commit_lag_messages{`+instance+`})`, "{{topic}}/{{partition}}"))

	latency := timeseries(4, "ClickHouse insert latency",
		"50th and 99th percentile of one INSERT attempt, by table (failed attempts included).",
		GridPos{X: 0, Y: 8, W: 8, H: 8}, Prometheus, "s",
		prom(`histogram_quantile(0.99, sum by (table, le) (rate(driftwatch_clickhouse_insert_duration_seconds_bucket{`+instance+`}[$__rate_interval])))`, "p99 {{table}}"),
		withRefID(prom(`histogram_quantile(0.5, sum by (table, le) (rate(driftwatch_clickhouse_insert_duration_seconds_bucket{`+instance+`}[$__rate_interval])))`, "p50 {{table}}"), "B"))
	insertErrors := timeseries(5, "ClickHouse insert errors",
		"Failed INSERT attempts per second, by table. Writes are retried with backoff, so errors first show up here and as commit lag, not as lost data.",
		GridPos{X: 8, Y: 8, W: 8, H: 8}, Prometheus, "short",
		prom(`sum by (table) (rate(driftwatch_clickhouse_insert_errors_total{`+instance+`}[$__rate_interval]))`, "{{table}}"))
	windows := timeseries(6, "Windows closed",
		"Windows closed and stored per minute, over all model versions and partitions.",
		GridPos{X: 16, Y: 8, W: 8, H: 8}, Prometheus, "short",
		prom(`60 * sum(rate(driftwatch_analysis_windows_closed_total{`+instance+`}[$__rate_interval]))`, "windows per minute"))

	late := timeseries(7, "Late events",
		"Events per second that arrived after their window had closed (beyond the allowed lateness); they are counted in the next window.",
		GridPos{X: 0, Y: 16, W: 12, H: 8}, Prometheus, "short",
		prom(`sum(rate(driftwatch_analysis_late_events_total{`+instance+`}[$__rate_interval]))`, "late events"))
	notifications := timeseries(8, "Alert notifications by receiver and outcome",
		"Delivery attempts per time bucket by receiver and outcome: success, retry (will be tried again), failed (retries exhausted or permanent error), dropped (queue full or shutdown).",
		GridPos{X: 12, Y: 16, W: 12, H: 8}, Prometheus, "short",
		prom(`sum by (receiver, outcome) (increase(driftwatch_alerts_notifications_total{`+instance+`}[$__rate_interval]))`, "{{receiver}} {{outcome}}"))

	stat := table(9, "Latest drift statistic",
		"The newest value of every exported drift statistic (capped by max_drift_series), highest first. p-value tests (ks, chi2) report their statistic here; their p-values are in ClickHouse.",
		GridPos{X: 0, Y: 24, W: 24, H: 10}, Prometheus,
		Target{RefID: "A", Datasource: Prometheus, Format: "table", Instant: true,
			Expr: `sort_desc(max by (model_id, model_version, feature, test) (driftwatch_drift_statistic{` + instance + `, model_id=~"$model_id", test=~"$test"}))`})
	stat.Options["sortBy"] = []any{map[string]any{"displayName": "Value", "desc": true}}

	// Risk budgets of the alert policy (docs/policy.md): one series per model with a budget. The
	// budget gauges label the model "model"; the model_id variable selects it.
	budgetModel := instance + `, model=~"$model_id"`
	remaining := timeseries(10, "Risk budget left",
		"Share of each model's risk budget left over the budget's rolling period: 1 - breached windows / allowed windows (below 0 when overspent). driftwatch_alerts_budget_remaining_ratio.",
		GridPos{X: 0, Y: 34, W: 8, H: 8}, Prometheus, "percentunit",
		prom(`min by (budget, model) (driftwatch_alerts_budget_remaining_ratio{`+budgetModel+`})`, "{{model}} ({{budget}})"))
	delete(remaining.FieldConfig.Defaults.Custom, "axisSoftMin") // an overspent budget is negative
	burn := thresholdLines(timeseries(11, "Burn rate by window",
		"Burn rate of each model's budget over each window of its burn alerts: the share of the window's analysis windows in breach divided by the budget's share (1 spends the budget exactly over its period). The dashed lines are the default page rates: slow burn 6× (6h, confirmed over 30m) and fast burn 14.4× (1h, confirmed over 5m).",
		GridPos{X: 8, Y: 34, W: 8, H: 8}, Prometheus, "short",
		prom(`max by (budget, model, window) (driftwatch_alerts_budget_burn_rate{`+budgetModel+`})`, "{{model}} {{window}}")), 6, 14.4)
	burnAlerts := timeseries(12, "Burn alerts and muted alerts",
		"Burn-rate alerts of risk budgets that fired per time bucket, by budget and burn alert (fast, slow, ticket); and the firing alerts whose notifications a silence or an inhibit rule of the policy holds back now.",
		GridPos{X: 16, Y: 34, W: 8, H: 8}, Prometheus, "short",
		prom(`sum by (budget, alert) (increase(driftwatch_alerts_budget_burn_alerts_total{`+instance+`}[$__rate_interval]))`, "{{budget}} {{alert}} fired"),
		withRefID(prom(`sum(driftwatch_alerts_silenced{`+instance+`})`, "silenced firing alerts"), "B"),
		withRefID(prom(`sum(driftwatch_alerts_inhibited{`+instance+`})`, "inhibited firing alerts"), "C"))

	return newDashboard("driftwatch-pipeline", "driftwatch / Pipeline",
		"driftwatch's own health from its Prometheus metrics: consumption, rejections, commit lag, ClickHouse writes, windows, alert delivery; and the models' risk budgets and burn rates.",
		vars, []Panel{consumption, rejections, lag, latency, insertErrors, windows, late, notifications, stat, remaining, burn, burnAlerts})
}
