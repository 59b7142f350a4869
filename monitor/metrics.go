package monitor

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/analysis"
	"github.com/driftwatch/driftwatch/analysis/evaluate"
)

type metrics struct {
	events       prometheus.Counter
	late         prometheus.Counter
	replayed     prometheus.Counter
	dropped      prometheus.Counter
	untracked    prometheus.Counter
	windows      prometheus.Counter
	openWindows  prometheus.Gauge
	drifted      prometheus.Counter
	refsPinned   prometheus.Counter
	refsReloaded prometheus.Counter
	// callersRestored counts the callers' windows read back into the
	// callers' history (caller_windows rows and model_windows' light
	// callers).
	callersRestored prometheus.Counter
	// callersUnstored counts the tracked callers of decided windows that
	// caller_windows does not hold (signals.access.store_callers).
	callersUnstored prometheus.Counter
	// historyRestored counts the signals rows read back into the signals'
	// history.
	historyRestored prometheus.Counter
	refsChanged     prometheus.Counter
	driftStat       *prometheus.GaugeVec
	signalStat      *prometheus.GaugeVec
	signals         *prometheus.CounterVec // signal, severity
	seriesDrop      prometheus.Counter
	partialsOut     prometheus.Counter
	partialsIn      *prometheus.CounterVec
	deadReplayed    prometheus.Counter
	slowDecodes     prometheus.Counter
	decided         *prometheus.CounterVec
	merging         prometheus.Gauge
	// labels counts label events by outcome (stored, rejected);
	// labeledWindows the prediction windows announced to deciders;
	// performance the realized performance computations.
	labels         *prometheus.CounterVec
	labeledWindows prometheus.Counter
	performance    prometheus.Counter
	// feedback counts feedback events by outcome (counted, rejected,
	// late); feedbackDropped those beyond a bound, by reason (max_models,
	// max_windows); feedbackWindows the feedback windows sealed and
	// published; feedbackIn the feedback partials read by the deciders, by
	// outcome.
	feedback        *prometheus.CounterVec
	feedbackDropped *prometheus.CounterVec
	feedbackWindows prometheus.Counter
	feedbackIn      *prometheus.CounterVec
	maxSeries       int
	seriesMu        sync.Mutex
	seriesActive    map[series]time.Time // last set
	seriesSwept     time.Time
	seriesEvict     prometheus.Counter
	now             func() time.Time
}

// series is one exported statistic series: its gauge and its label values.
type series struct {
	gauge  *prometheus.GaugeVec
	labels [4]string
}

// driftSeriesIdle is how long a driftwatch_drift_statistic series may go
// unset before it is removed to make room for a new one at max_drift_series.
const driftSeriesIdle = time.Hour

func newMetrics(reg prometheus.Registerer, maxSeries int) *metrics {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_events_total", Help: "Events counted in a window."}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_late_events_total", Help: "Events that arrived after their window had closed (beyond the allowed lateness)."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_replayed_events_total", Help: "Events re-read after a restart that stored windows already counted, skipped."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_dropped_events_total", Help: "Events of model versions beyond analysis.max_models on a partition."}),
		untracked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_untracked_features_total", Help: "Feature values beyond analysis.max_features of their model version."}),
		windows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_windows_closed_total", Help: "Partition windows closed, published to the decider and stored in inference_windows."}),
		slowDecodes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_ingest_slow_path_decodes_total",
			Help: "Inference and feedback messages the fast decoder left to the slow one (escapes in strings, duplicate keys, nulls in maps, bad input): many mean producers write JSON the fast path does not take."}),
		deadReplayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_ingest_dead_letters_replayed_total",
			Help: "Bad messages re-read after a restart whose dead letter a run before had written: not written again."}),
		partialsOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_merge_partials_published_total", Help: "Partial window states published to the partials topic."}),
		partialsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_merge_partials_total",
			Help: "Partial window states read by the deciders, by outcome: merged, duplicate (a replay), already_decided (a replay, or a partition waited out), dropped (beyond max_models), invalid (dead-lettered), evicted (incomplete, superseded or beyond the byte bound).",
		}, []string{"outcome"}),
		decided: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_merge_windows_decided_total",
			Help: "Model windows merged over partitions, decided and stored, by completeness: complete, or waited_out (decided without partitions that stayed behind for merge_timeout).",
		}, []string{"completeness"}),
		merging: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftwatch_merge_open_windows", Help: "Model windows whose partials are being merged, over all deciders of this instance."}),
		openWindows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftwatch_analysis_open_windows", Help: "Windows open, over all partitions."}),
		drifted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_drifted_features_total", Help: "Feature windows whose drift decision was warning or critical."}),
		refsReloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_references_reloaded_total",
			Help: "Stored references read again by a decider for a model version it held no reference or warm-up of (first window here, or evicted for max_versions)."}),
		historyRestored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_history_restored_total",
			Help: "signals rows read back into the signals' history (<signal>_history, the DDMs) by a decider for a model version it had not fed yet (after a restart, or a move of the model)."}),
		callersRestored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_caller_history_restored_total",
			Help: "Callers' windows read back into the callers' history (caller_windows rows and model_windows' light callers) by a decider for a model version it held no caller history of (after a restart, or a move of the model)."}),
		callersUnstored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_callers_unstored_total",
			Help: "Tracked callers of decided windows not written to caller_windows but kept in model_windows' light_callers: beyond signals.access.store_callers, none a verdict names, none judged (fewer calls of each kind than min_count and caller_history.min_calls)."}),
		refsPinned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_references_pinned_total", Help: "References built from warm-up windows and pinned."}),
		refsChanged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_analysis_reference_hash_mismatches_total", Help: "Stored references whose content no longer matches their content hash."}),
		driftStat: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftwatch_drift_statistic",
			Help: "Latest drift statistic per model version, feature and test (p-value tests report the statistic).",
		}, []string{"model_id", "model_version", "feature", "test"}),
		signalStat: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftwatch_signal_statistic",
			Help: "Latest statistic per model version, signal and subject (shares max_drift_series with driftwatch_drift_statistic).",
		}, []string{"model_id", "model_version", "signal", "subject"}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_signal_verdicts_total", Help: "Signal verdicts, by signal and severity."}, []string{"signal", "severity"}),
		seriesDrop: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_drift_series_dropped_total", Help: "Drift and signal statistics not exported because max_drift_series was reached."}),
		seriesEvict: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_drift_series_evicted_total", Help: "Drift and signal statistic series unset for an hour (their model version went silent), removed to make room at max_drift_series."}),
		labels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_labels_total",
			Help: "Label events read from the labels topic, by outcome: stored (in labels; a replay or a revision collapses there), rejected (dead-lettered with its reason).",
		}, []string{"outcome"}),
		labeledWindows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_labels_windows_announced_total", Help: "Prediction windows that received labels, announced to their model's decider."}),
		performance: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_performance_computations_total", Help: "Realized performance computations of a window (performance_windows rows written)."}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_feedback_events_total",
			Help: "Training-feedback events read from the feedback topic, by outcome: counted (in a poisoning window), rejected (dead-lettered with its reason), late (its window was sealed).",
		}, []string{"outcome"}),
		feedbackDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_feedback_dropped_total",
			Help: "Training-feedback events not counted because a feedback partition held its bound, by reason: max_models, max_windows (signals.poisoning).",
		}, []string{"reason"}),
		feedbackWindows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_feedback_windows_sealed_total", Help: "Feedback windows sealed by a feedback partition and published to the partials topic."}),
		feedbackIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_merge_feedback_partials_total",
			Help: "Feedback partials read by the deciders, by outcome: merged, duplicate (a replay), already_decided (a replay, or a partition waited out), dropped (beyond a bound), invalid (dead-lettered).",
		}, []string{"outcome"}),
		maxSeries:    maxSeries,
		seriesActive: map[series]time.Time{},
		now:          time.Now,
	}
	if reg != nil {
		reg.MustRegister(m.events, m.late, m.replayed, m.dropped, m.untracked, m.windows, m.openWindows,
			m.drifted, m.refsPinned, m.refsReloaded, m.callersRestored, m.callersUnstored, m.historyRestored, m.refsChanged, m.driftStat, m.signalStat, m.signals, m.seriesDrop, m.seriesEvict, m.partialsOut, m.partialsIn, m.deadReplayed, m.slowDecodes, m.decided, m.merging,
			m.labels, m.labeledWindows, m.performance, m.feedback, m.feedbackDropped, m.feedbackWindows, m.feedbackIn)
	}
	return m
}

// setDrift exports one drift statistic unless the series cap is reached.
func (m *metrics) setDrift(model, version, feature, test string, v float64) {
	m.set(series{m.driftStat, [4]string{model, version, feature, test}}, v)
}

// signalVerdicts exports the statistics of model version m's signal
// verdicts (under the series cap) and counts them by severity.
func (m *metrics) signalVerdicts(mv analysis.ModelKey, verdicts []evaluate.SignalVerdict) {
	for _, v := range verdicts {
		m.setSignal(mv.ID, mv.Version, v.Signal, v.Subject, v.Statistic)
		m.signals.WithLabelValues(v.Signal, string(v.Severity)).Inc()
	}
}

// setSignal exports one signal statistic unless the series cap is reached.
func (m *metrics) setSignal(model, version, signal, subject string, v float64) {
	m.set(series{m.signalStat, [4]string{model, version, signal, subject}}, v)
}

// set exports the statistic of series k unless the cap is reached.
func (m *metrics) set(k series, v float64) {
	now := m.now()
	m.seriesMu.Lock()
	if _, ok := m.seriesActive[k]; !ok && len(m.seriesActive) >= m.maxSeries {
		m.sweepDrift(now)
		if len(m.seriesActive) >= m.maxSeries {
			m.seriesMu.Unlock()
			m.seriesDrop.Inc()
			return
		}
	}
	m.seriesActive[k] = now
	m.seriesMu.Unlock()
	k.gauge.WithLabelValues(k.labels[:]...).Set(v)
}

// sweepDrift removes the series unset for driftSeriesIdle (model versions
// gone silent), at most once a minute. Called with seriesMu held.
func (m *metrics) sweepDrift(now time.Time) {
	if now.Sub(m.seriesSwept) < time.Minute {
		return
	}
	m.seriesSwept = now
	for k, at := range m.seriesActive {
		if now.Sub(at) > driftSeriesIdle {
			delete(m.seriesActive, k)
			k.gauge.DeleteLabelValues(k.labels[:]...)
			m.seriesEvict.Inc()
		}
	}
}
