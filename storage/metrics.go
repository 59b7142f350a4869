package storage

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus collectors of a Store.
type metrics struct {
	insertDuration *prometheus.HistogramVec
	insertRows     *prometheus.CounterVec
	insertErrors   *prometheus.CounterVec
	retries        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		insertDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "driftwatch_clickhouse_insert_duration_seconds",
			Help:                        "Duration of one INSERT attempt into a ClickHouse table, failed attempts included.",
			Buckets:                     []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
			NativeHistogramBucketFactor: 1.1,
		}, []string{"table"}),
		insertRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_clickhouse_insert_rows_total",
			Help: "Rows written to a ClickHouse table by successful INSERTs.",
		}, []string{"table"}),
		insertErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_clickhouse_insert_errors_total",
			Help: "Failed INSERT attempts into a ClickHouse table (each retry that fails counts).",
		}, []string{"table"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_clickhouse_retries_total",
			Help: "Writes to ClickHouse retried after a failure.",
		}),
	}
	// Start every table's counters at 0 so that rate() and increase() see the first error.
	for _, t := range []table{inferenceWindowsTable, featureWindowsTable, driftScoresTable, modelWindowsTable, signalsTable, alertsTable, referencesTable} {
		m.insertRows.WithLabelValues(t.name)
		m.insertErrors.WithLabelValues(t.name)
	}
	if reg != nil {
		m.insertDuration = register(reg, m.insertDuration)
		m.insertRows = register(reg, m.insertRows)
		m.insertErrors = register(reg, m.insertErrors)
		m.retries = register(reg, m.retries)
	}
	return m
}

// register registers c, or returns the collector already registered under the same description, so
// that several Stores may share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("storage: registering metrics: " + err.Error())
	}
	return c
}
