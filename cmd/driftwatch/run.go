package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/driftwatch/driftwatch/monitor"
)

const runExamples = `  driftwatch run --config driftwatch.yaml
  driftwatch run --config driftwatch.yaml --kafka-brokers kafka-1:9092,kafka-2:9092 --clickhouse-addr ch:9000
  DRIFTWATCH_ANALYSIS_WINDOW_SIZE=5m driftwatch run --config driftwatch.yaml
`

// cmdRun runs the monitor until interrupted.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) error {
	fs := newFlagSet("run", "Consume inference telemetry from Kafka, score drift per model version and window,\n"+
		"store aggregates and scores in ClickHouse and deliver alerts. Every config key can also be set\n"+
		"from the environment as DRIFTWATCH_<SECTION>_<KEY> (e.g. DRIFTWATCH_KAFKA_TOPIC); flags win over both.\n"+
		"An unknown DRIFTWATCH_ variable is an error, as an unknown key is.",
		runExamples, stdout, stderr)
	path := fs.String("config", "", "YAML configuration file")
	brokers := fs.String("kafka-brokers", "", "comma-separated Kafka brokers (overrides kafka.brokers)")
	chAddr := fs.String("clickhouse-addr", "", "ClickHouse native address host:port (overrides clickhouse.addr)")
	listen := fs.String("listen", "", "address of /metrics and /healthz (overrides listen)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	cfg, err := monitor.LoadConfig(*path, env)
	if err != nil {
		return err
	}
	if *brokers != "" {
		cfg.Kafka.Consumer.Brokers = strings.Split(*brokers, ",")
	}
	if *chAddr != "" {
		cfg.ClickHouse.Addr = *chAddr
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	m, err := monitor.New(ctx, cfg, monitor.Options{Logger: log})
	if err != nil {
		return err
	}
	defer m.Close(context.Background())
	// SIGHUP re-reads the alert policy file; a broken file keeps the
	// policy in force.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := m.Alerts().ReloadPolicy(); err != nil {
					log.Error("alert policy not reloaded; the previous policy stays", "err", err)
				} else {
					log.Info("alert policy reloaded", "file", cfg.Alerting.PolicyFile)
				}
			}
		}
	}()
	log.Info("driftwatch running", "brokers", m.Brokers(), "topic", cfg.Kafka.Consumer.Topic, "metrics", "http://"+m.Addr()+"/metrics")
	if err := m.Run(ctx); err != nil {
		return fmt.Errorf("running: %w", err)
	}
	return nil
}
