CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    description String,
    applied_at DateTime
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY (version);

CREATE TABLE IF NOT EXISTS inference_windows
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime CODEC(Delta(4), ZSTD(1)),
    window_end DateTime CODEC(Delta(4), ZSTD(1)),
    events UInt64,
    late_events UInt64,
    rejected_events UInt64,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    first_offset Int64,
    last_offset Int64,
    reference_id LowCardinality(String),
    flushed_at DateTime CODEC(Delta(4), ZSTD(1))
)
ENGINE = ReplacingMergeTree(flushed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, window_start, kafka_topic, kafka_partition);

CREATE TABLE IF NOT EXISTS feature_windows
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime CODEC(Delta(4), ZSTD(1)),
    window_end DateTime CODEC(Delta(4), ZSTD(1)),
    kafka_partition Int32,
    feature LowCardinality(String),
    kind LowCardinality(String),
    count UInt64,
    missing UInt64,
    mean Float64 CODEC(Gorilla, ZSTD(1)),
    variance Float64 CODEC(Gorilla, ZSTD(1)),
    min Float64 CODEC(Gorilla, ZSTD(1)),
    max Float64 CODEC(Gorilla, ZSTD(1)),
    bin_edges Array(Float64) CODEC(ZSTD(1)),
    bin_counts Array(UInt64) CODEC(ZSTD(1)),
    categories Array(String) CODEC(ZSTD(1)),
    category_counts Array(UInt64) CODEC(ZSTD(1)),
    other_count UInt64,
    unseen_count UInt64,
    reference_id LowCardinality(String),
    flushed_at DateTime CODEC(Delta(4), ZSTD(1))
)
ENGINE = ReplacingMergeTree(flushed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, feature, window_start, kafka_partition);

CREATE TABLE IF NOT EXISTS drift_scores
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime CODEC(Delta(4), ZSTD(1)),
    window_end DateTime CODEC(Delta(4), ZSTD(1)),
    kafka_partition Int32,
    feature LowCardinality(String),
    kind LowCardinality(String),
    test LowCardinality(String),
    statistic Float64 CODEC(Gorilla, ZSTD(1)),
    p_value Float64 CODEC(Gorilla, ZSTD(1)),
    effect Float64 CODEC(Gorilla, ZSTD(1)),
    threshold Float64 CODEC(Gorilla, ZSTD(1)),
    severity LowCardinality(String),
    drifted UInt8,
    n_reference UInt64,
    n_current UInt64,
    reference_id LowCardinality(String),
    flushed_at DateTime CODEC(Delta(4), ZSTD(1))
)
ENGINE = ReplacingMergeTree(flushed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, feature, test, window_start, kafka_partition);

CREATE TABLE IF NOT EXISTS alerts
(
    event_time DateTime CODEC(Delta(4), ZSTD(1)),
    alert_key String,
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    feature LowCardinality(String),
    signal LowCardinality(String),
    subject String,
    record LowCardinality(String),
    state LowCardinality(String),
    severity LowCardinality(String),
    statistic Float64,
    threshold Float64,
    summary String CODEC(ZSTD(1)),
    receiver LowCardinality(String),
    attempt UInt32,
    outcome LowCardinality(String),
    http_status Int32,
    error String CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (model_id, alert_key, event_time);

CREATE TABLE IF NOT EXISTS references
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    reference_id String,
    created_at DateTime CODEC(Delta(4), ZSTD(1)),
    source LowCardinality(String),
    windows UInt32,
    feature LowCardinality(String),
    kind LowCardinality(String),
    n UInt64,
    mean Float64,
    variance Float64,
    min Float64,
    max Float64,
    bin_edges Array(Float64) CODEC(ZSTD(1)),
    bin_counts Array(UInt64) CODEC(ZSTD(1)),
    categories Array(String) CODEC(ZSTD(1)),
    category_counts Array(UInt64) CODEC(ZSTD(1)),
    sample Array(Float64) CODEC(ZSTD(1)),
    state String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (model_id, model_version, reference_id, feature);

ALTER TABLE `drift_scores` ADD COLUMN effect Float64 CODEC(Gorilla, ZSTD(1)) AFTER p_value;

CREATE TABLE IF NOT EXISTS model_windows
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime CODEC(Delta(4), ZSTD(1)),
    window_end DateTime CODEC(Delta(4), ZSTD(1)),
    events UInt64,
    late_events UInt64,
    rejected_events UInt64,
    partitions UInt32,
    missing_partitions Array(Int32) CODEC(ZSTD(1)),
    mixed_references UInt8,
    reference_id LowCardinality(String),
    light_callers Array(String),
    light_calls Array(UInt64),
    light_calls_overcount Array(UInt64),
    decided_at DateTime CODEC(Delta(4), ZSTD(1))
)
ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, window_start);

CREATE TABLE IF NOT EXISTS signals
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime CODEC(Delta(4), ZSTD(1)),
    window_end DateTime CODEC(Delta(4), ZSTD(1)),
    signal LowCardinality(String),
    subject String,
    statistic Float64 CODEC(Gorilla, ZSTD(1)),
    p_value Float64 CODEC(Gorilla, ZSTD(1)),
    effect Float64 CODEC(Gorilla, ZSTD(1)),
    threshold Float64 CODEC(Gorilla, ZSTD(1)),
    severity LowCardinality(String),
    n UInt64,
    reference_id LowCardinality(String),
    evidence String CODEC(ZSTD(1)),
    decided_at DateTime CODEC(Delta(4), ZSTD(1))
)
ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, signal, subject, window_start);

ALTER TABLE `references` ADD COLUMN state String CODEC(ZSTD(1)) AFTER sample;

ALTER TABLE `alerts` ADD COLUMN signal LowCardinality(String) AFTER feature;

ALTER TABLE `alerts` ADD COLUMN subject String AFTER signal;

CREATE TABLE IF NOT EXISTS predictions
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime CODEC(Delta(4), ZSTD(1)),
    prediction_id String,
    event_time DateTime CODEC(Delta(4), ZSTD(1)),
    predicted_class String,
    score Float64 CODEC(Gorilla, ZSTD(1)),
    has_score UInt8,
    threshold Float64 CODEC(Gorilla, ZSTD(1)),
    has_threshold UInt8,
    written_at DateTime CODEC(Delta(4), ZSTD(1))
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (model_id, prediction_id, model_version, window_start);

CREATE TABLE IF NOT EXISTS labels
(
    model_id LowCardinality(String),
    prediction_id String,
    revision UInt64,
    truth_class String,
    truth_value Float64 CODEC(Gorilla, ZSTD(1)),
    has_value UInt8,
    label_source LowCardinality(String),
    label_time DateTime CODEC(Delta(4), ZSTD(1)),
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    written_at DateTime CODEC(Delta(4), ZSTD(1))
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY (model_id, prediction_id);

CREATE TABLE IF NOT EXISTS performance_windows
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime CODEC(Delta(4), ZSTD(1)),
    window_end DateTime CODEC(Delta(4), ZSTD(1)),
    predictions UInt64,
    labeled UInt64,
    late_labels UInt64,
    classified UInt64,
    correct UInt64,
    confusion_truth Array(String) CODEC(ZSTD(1)),
    confusion_predicted Array(String) CODEC(ZSTD(1)),
    confusion_count Array(UInt64) CODEC(ZSTD(1)),
    confusion_other UInt64,
    scored UInt64,
    positives UInt64,
    brier_sum Float64 CODEC(Gorilla, ZSTD(1)),
    log_loss_sum Float64 CODEC(Gorilla, ZSTD(1)),
    score_bins_positive Array(UInt64) CODEC(ZSTD(1)),
    score_bins_negative Array(UInt64) CODEC(ZSTD(1)),
    score_bins_sum Array(Float64) CODEC(ZSTD(1)),
    regressed UInt64,
    abs_error_sum Float64 CODEC(Gorilla, ZSTD(1)),
    squared_error_sum Float64 CODEC(Gorilla, ZSTD(1)),
    delay_p50 Float64 CODEC(Gorilla, ZSTD(1)),
    delay_p90 Float64 CODEC(Gorilla, ZSTD(1)),
    delay_p99 Float64 CODEC(Gorilla, ZSTD(1)),
    computed_at DateTime CODEC(Delta(4), ZSTD(1)),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, window_start);

CREATE TABLE IF NOT EXISTS caller_windows
(
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    window_start DateTime CODEC(Delta(4), ZSTD(1)),
    window_end DateTime CODEC(Delta(4), ZSTD(1)),
    caller String,
    calls UInt64,
    calls_overcount UInt64,
    scored_calls UInt64,
    scored_overcount UInt64,
    probes UInt64,
    input_calls UInt64,
    input_overcount UInt64,
    distinct_inputs Float64,
    ood_sampled UInt64,
    ood_outside UInt64,
    class_calls UInt64,
    classes UInt32,
    class_entropy Float64,
    decided_at DateTime CODEC(Delta(4), ZSTD(1))
)
ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, caller, window_start);

CREATE TABLE IF NOT EXISTS silences
(
    id String,
    matchers Array(String),
    starts_at DateTime,
    ends_at DateTime,
    created_by String,
    comment String,
    created_at DateTime,
    expired UInt8,
    expired_by String,
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (id);

CREATE TABLE IF NOT EXISTS alert_state
(
    model_id LowCardinality(String),
    instance String,
    saved_at DateTime CODEC(Delta(4), ZSTD(1)),
    version UInt64,
    state String CODEC(ZSTD(1)),
    budget LowCardinality(String),
    period LowCardinality(String),
    window_end DateTime,
    windows UInt32,
    observed UInt32,
    breached UInt32,
    allowed Float64,
    consumed Float64,
    remaining Float64,
    burn_alerts Array(String),
    burn_severities Array(String),
    burn_thresholds Array(Float64),
    burn_long_windows Array(String),
    burn_long_rates Array(Float64),
    burn_short_windows Array(String),
    burn_short_rates Array(Float64),
    burn_firing Array(UInt8)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (model_id);

ALTER TABLE `caller_windows` ADD COLUMN input_calls UInt64 AFTER probes;

ALTER TABLE `caller_windows` ADD COLUMN input_overcount UInt64 AFTER input_calls;

ALTER TABLE `caller_windows` ADD COLUMN distinct_inputs Float64 AFTER input_overcount;

ALTER TABLE `caller_windows` ADD COLUMN ood_sampled UInt64 AFTER distinct_inputs;

ALTER TABLE `caller_windows` ADD COLUMN ood_outside UInt64 AFTER ood_sampled;

ALTER TABLE `caller_windows` ADD COLUMN class_calls UInt64 AFTER ood_outside;

ALTER TABLE `caller_windows` ADD COLUMN classes UInt32 AFTER class_calls;

ALTER TABLE `caller_windows` ADD COLUMN class_entropy Float64 AFTER classes;

ALTER TABLE `model_windows` ADD COLUMN light_callers Array(String) AFTER reference_id;

ALTER TABLE `model_windows` ADD COLUMN light_calls Array(UInt64) AFTER light_callers;

ALTER TABLE `model_windows` ADD COLUMN light_calls_overcount Array(UInt64) AFTER light_calls;
