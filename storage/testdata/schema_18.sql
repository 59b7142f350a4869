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
    model_id String,
    model_version String,
    window_start DateTime,
    window_end DateTime,
    events UInt64,
    late_events UInt64,
    rejected_events UInt64,
    kafka_topic String,
    kafka_partition Int32,
    first_offset Int64,
    last_offset Int64,
    reference_id String,
    flushed_at DateTime
)
ENGINE = ReplacingMergeTree(flushed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, window_start, kafka_topic, kafka_partition);

CREATE TABLE IF NOT EXISTS feature_windows
(
    model_id String,
    model_version String,
    window_start DateTime,
    window_end DateTime,
    kafka_partition Int32,
    feature String,
    kind String,
    count UInt64,
    missing UInt64,
    mean Float64,
    variance Float64,
    min Float64,
    max Float64,
    bin_edges Array(Float64),
    bin_counts Array(UInt64),
    categories Array(String),
    category_counts Array(UInt64),
    other_count UInt64,
    unseen_count UInt64,
    reference_id String,
    flushed_at DateTime
)
ENGINE = ReplacingMergeTree(flushed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, feature, window_start, kafka_partition);

CREATE TABLE IF NOT EXISTS drift_scores
(
    model_id String,
    model_version String,
    window_start DateTime,
    window_end DateTime,
    kafka_partition Int32,
    feature String,
    kind String,
    test String,
    statistic Float64,
    p_value Float64,
    effect Float64,
    threshold Float64,
    severity String,
    drifted UInt8,
    n_reference UInt64,
    n_current UInt64,
    reference_id String,
    flushed_at DateTime
)
ENGINE = ReplacingMergeTree(flushed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, feature, test, window_start, kafka_partition);

CREATE TABLE IF NOT EXISTS alerts
(
    event_time DateTime,
    alert_key String,
    model_id String,
    model_version String,
    feature String,
    signal String,
    subject String,
    record String,
    state String,
    severity String,
    statistic Float64,
    threshold Float64,
    summary String,
    receiver String,
    attempt UInt32,
    outcome String,
    http_status Int32,
    error String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (model_id, alert_key, event_time);

CREATE TABLE IF NOT EXISTS references
(
    model_id String,
    model_version String,
    reference_id String,
    created_at DateTime,
    source String,
    windows UInt32,
    feature String,
    kind String,
    n UInt64,
    mean Float64,
    variance Float64,
    min Float64,
    max Float64,
    bin_edges Array(Float64),
    bin_counts Array(UInt64),
    categories Array(String),
    category_counts Array(UInt64),
    sample Array(Float64),
    state String
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (model_id, model_version, reference_id, feature);

ALTER TABLE `drift_scores` ADD COLUMN effect Float64 AFTER p_value;

CREATE TABLE IF NOT EXISTS model_windows
(
    model_id String,
    model_version String,
    window_start DateTime,
    window_end DateTime,
    events UInt64,
    late_events UInt64,
    rejected_events UInt64,
    partitions UInt32,
    missing_partitions Array(Int32),
    mixed_references UInt8,
    reference_id String,
    light_callers Array(String),
    light_calls Array(UInt64),
    light_calls_overcount Array(UInt64),
    decided_at DateTime
)
ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, window_start);

CREATE TABLE IF NOT EXISTS signals
(
    model_id String,
    model_version String,
    window_start DateTime,
    window_end DateTime,
    signal String,
    subject String,
    statistic Float64,
    p_value Float64,
    effect Float64,
    threshold Float64,
    severity String,
    n UInt64,
    reference_id String,
    evidence String,
    decided_at DateTime
)
ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, signal, subject, window_start);

ALTER TABLE `references` ADD COLUMN state String AFTER sample;

ALTER TABLE `alerts` ADD COLUMN signal String AFTER feature;

ALTER TABLE `alerts` ADD COLUMN subject String AFTER signal;

CREATE TABLE IF NOT EXISTS predictions
(
    model_id String,
    model_version String,
    window_start DateTime,
    prediction_id String,
    event_time DateTime,
    predicted_class String,
    score Float64,
    has_score UInt8,
    threshold Float64,
    has_threshold UInt8,
    written_at DateTime
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (model_id, prediction_id, model_version, window_start);

CREATE TABLE IF NOT EXISTS labels
(
    model_id String,
    prediction_id String,
    revision UInt64,
    truth_class String,
    truth_value Float64,
    has_value UInt8,
    label_source String,
    label_time DateTime,
    kafka_topic String,
    kafka_partition Int32,
    kafka_offset Int64,
    written_at DateTime
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY (model_id, prediction_id);

CREATE TABLE IF NOT EXISTS performance_windows
(
    model_id String,
    model_version String,
    window_start DateTime,
    window_end DateTime,
    predictions UInt64,
    labeled UInt64,
    late_labels UInt64,
    classified UInt64,
    correct UInt64,
    confusion_truth Array(String),
    confusion_predicted Array(String),
    confusion_count Array(UInt64),
    confusion_other UInt64,
    scored UInt64,
    positives UInt64,
    brier_sum Float64,
    log_loss_sum Float64,
    score_bins_positive Array(UInt64),
    score_bins_negative Array(UInt64),
    score_bins_sum Array(Float64),
    regressed UInt64,
    abs_error_sum Float64,
    squared_error_sum Float64,
    delay_p50 Float64,
    delay_p90 Float64,
    delay_p99 Float64,
    computed_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, window_start);

CREATE TABLE IF NOT EXISTS caller_windows
(
    model_id String,
    model_version String,
    window_start DateTime,
    window_end DateTime,
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
    decided_at DateTime
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
    model_id String,
    instance String,
    saved_at DateTime,
    version UInt64,
    state String,
    budget String,
    period String,
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
