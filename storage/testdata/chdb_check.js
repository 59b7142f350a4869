// chdb_check.js runs driftwatch's ClickHouse schema, as rendered for a modern server
// (schema_modern.sql, kept in sync by `go test ./storage`, regenerated with `-update`), and every
// ```sql example of docs/clickhouse.md on a current ClickHouse embedded in chdb.
//
//   mkdir -p /tmp/chdb && (cd /tmp/chdb && npm install chdb@3.4.0)
//   NODE_PATH=/tmp/chdb/node_modules node storage/testdata/chdb_check.js
//
// It prints each statement's result and exits non-zero at the first failure.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Session } = require('chdb');

const schemaFile = path.join(__dirname, 'schema_modern.sql');
const docsFile = path.join(__dirname, '..', '..', 'docs', 'clickhouse.md');

function statements(sql) {
  return sql.split(/;\s*(?:\n|$)/).map((s) => s.replace(/^\s*--.*$/gm, '').trim()).filter((s) => s !== '');
}

function docExamples(md) {
  const out = [];
  const re = /```sql\n([\s\S]*?)```/g;
  let m;
  while ((m = re.exec(md)) !== null) out.push(...statements(m[1]));
  return out;
}

// A few rows in every table so that the examples return something.
const seed = [
  `INSERT INTO inference_windows (model_id, model_version, window_start, window_end, events, late_events,
     rejected_events, kafka_topic, kafka_partition, first_offset, last_offset, reference_id, flushed_at) VALUES
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 100, 1, 2, 'telemetry', 0, 0, 99, 'ref1', '2024-05-01 10:02:00'),
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 101, 1, 2, 'telemetry', 0, 0, 100, 'ref1', '2024-05-01 10:03:00'),
   ('fraud', 'v1', '2024-05-01 10:01:00', '2024-05-01 10:02:00', 80, 0, 0, 'telemetry', 0, 101, 180, 'ref1', '2024-05-01 10:03:00')`,
  `INSERT INTO feature_windows (model_id, model_version, window_start, window_end, kafka_partition, feature, kind,
     count, missing, mean, variance, min, max, bin_edges, bin_counts, categories, category_counts, other_count,
     unseen_count, reference_id, flushed_at) VALUES
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 0, 'amount', 'numeric', 100, 0, 12.5, 4.0, 1, 40,
    [5, 10, 20], [10, 30, 40, 20], [], [], 0, 0, 'ref1', '2024-05-01 10:02:00'),
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 0, 'country', 'categorical', 100, 3, 0, 0, 0, 0,
    [], [], ['DE', 'FR'], [60, 30], 7, 2, 'ref1', '2024-05-01 10:02:00')`,
  `INSERT INTO drift_scores (model_id, model_version, window_start, window_end, kafka_partition, feature, kind, test,
     statistic, p_value, threshold, severity, drifted, n_reference, n_current, reference_id, flushed_at) VALUES
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 0, 'amount', 'numeric', 'psi', 0.31, nan, 0.25,
    'critical', 1, 1000, 100, 'ref1', '2024-05-01 10:02:00'),
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 0, 'amount', 'numeric', 'ks', 0.2, 0.001, 0.05,
    'warning', 1, 1000, 100, 'ref1', '2024-05-01 10:02:00')`,
  `INSERT INTO alerts (event_time, alert_key, model_id, model_version, feature, record, state, severity, statistic,
     threshold, summary, receiver, attempt, outcome, http_status, error) VALUES
   ('2024-05-01 10:02:00', 'fraud/v1/amount/psi', 'fraud', 'v1', 'amount', 'state', 'firing', 'critical', 0.31, 0.25,
    'PSI 0.31 > 0.25', '', 0, '', 0, ''),
   ('2024-05-01 10:02:01', 'fraud/v1/amount/psi', 'fraud', 'v1', 'amount', 'delivery', 'firing', 'critical', 0.31,
    0.25, 'PSI 0.31 > 0.25', 'slack', 1, 'sent', 200, ''),
   ('2024-05-01 10:05:00', 'fraud/v1/country', 'fraud', 'v1', 'country', 'state', 'firing', 'warning', 0.2, 0.1,
    'PSI 0.2 > 0.1', '', 0, 'silenced', 0, '')`,
  `INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, expired, expired_by,
     updated_at, version) VALUES
   ('5f1c0e9a7b3d2468', ['model_id=fraud*'], '2024-05-01 09:00:00', '2099-01-01 00:00:00', 'ana', 'retrain',
    '2024-05-01 09:00:00', 0, '', '2024-05-01 09:00:00', 1)`,
  `INSERT INTO references (model_id, model_version, reference_id, created_at, source, windows, feature, kind, n, mean,
     variance, min, max, bin_edges, bin_counts, categories, category_counts, sample) VALUES
   ('fraud', 'v1', 'ref0', '2024-04-30 09:00:00', 'warmup', 5, 'amount', 'numeric', 900, 11, 4, 0, 50, [5, 10, 20],
    [100, 300, 300, 200], [], [], [1, 2, 3]),
   ('fraud', 'v1', 'ref1', '2024-05-01 09:00:00', 'warmup', 5, 'amount', 'numeric', 1000, 12, 4, 0, 50, [5, 10, 20],
    [100, 300, 400, 200], [], [], [1, 2, 3])`,
,
  `INSERT INTO predictions (model_id, model_version, window_start, prediction_id, event_time, predicted_class, score,
     has_score, threshold, has_threshold, written_at) VALUES
   ('fraud', 'v1', '2024-05-01 10:00:00', 'p1', '2024-05-01 10:00:10', 'fraud', 0.9, 1, 0.5, 1, '2024-05-01 10:01:00'),
   ('fraud', 'v1', '2024-05-01 10:00:00', 'p2', '2024-05-01 10:00:20', 'ok', 0.2, 1, 0.5, 1, '2024-05-01 10:01:00')`,
  `INSERT INTO labels (model_id, prediction_id, revision, truth_class, truth_value, has_value, label_source, label_time,
     kafka_topic, kafka_partition, kafka_offset, written_at) VALUES
   ('fraud', 'p1', 0, 'fraud', 0, 0, 'chargebacks', '2024-05-03 09:00:00', 'labels', 0, 7, '2024-05-03 09:00:01'),
   ('fraud', 'p2', 1, 'fraud', 0, 0, 'chargebacks', '2024-05-03 09:00:00', 'labels', 0, 8, '2024-05-03 09:00:01')`,
  `INSERT INTO performance_windows (model_id, model_version, window_start, window_end, predictions, labeled, late_labels,
     classified, correct, confusion_truth, confusion_predicted, confusion_count, confusion_other, scored, positives,
     brier_sum, log_loss_sum, score_bins_positive, score_bins_negative, score_bins_sum, regressed, abs_error_sum,
     squared_error_sum, delay_p50, delay_p90, delay_p99, computed_at, version) VALUES
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 2, 2, 0, 2, 1, ['fraud', 'fraud'], ['fraud', 'ok'],
    [1, 1], 0, 2, 1, 0.65, 0.328504, arrayResize([0], 100), arrayResize([0], 100), arrayResize([0.0], 100), 0, 0, 0,
    169190, 169190, 169190, '2024-05-03 09:00:02', 1714726802000)`,
  `INSERT INTO signals (model_id, model_version, window_start, window_end, signal, subject, statistic, p_value, effect,
     threshold, severity, n, reference_id, evidence, decided_at) VALUES
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 'estimated_performance', 'accuracy', 0.85, nan, nan,
    nan, 'ok', 2, 'ref1', '', '2024-05-01 10:02:00'),
   ('fraud', '', now() - INTERVAL 1 HOUR, now() - INTERVAL 59 MINUTE, 'poisoning_label_flip', 'mallory', 0.62, 1e-12,
    0.55, 0.3, 'critical', 120, '', '74 of 120 proposed labels differ from the model''s prediction', now())`,
,
  `INSERT INTO caller_windows (model_id, model_version, window_start, window_end, caller, calls, calls_overcount,
     scored_calls, scored_overcount, probes, input_calls, input_overcount, distinct_inputs, ood_sampled, ood_outside,
     class_calls, classes, class_entropy, decided_at) VALUES
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 'harvester-7', 600, 0, 600, 0, 540, 600, 0, 590.5,
    32, 9, 600, 4, 0.98, '2024-05-01 10:02:00'),
   ('fraud', 'v1', '2024-05-01 10:00:00', '2024-05-01 10:01:00', 'batch-svc', 900, 0, 900, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0,
    '2024-05-01 10:02:00'),
   ('fraud', 'v1', toStartOfMinute(now() - INTERVAL 1 HOUR), toStartOfMinute(now() - INTERVAL 59 MINUTE), 'harvester-7',
    600, 0, 600, 0, 540, 600, 0, 590.5, 32, 9, 600, 4, 0.98, now())`,
  `INSERT INTO signals (model_id, model_version, window_start, window_end, signal, subject, statistic, p_value, effect,
     threshold, severity, n, reference_id, evidence, decided_at) VALUES
   ('fraud', 'v1', toStartOfMinute(now() - INTERVAL 1 HOUR), toStartOfMinute(now() - INTERVAL 59 MINUTE), 'caller_probing',
    'harvester-7', 0.9, 1e-30, 0.85, 0.3, 'critical', 600, 'ref1', '540 of 600 scored calls near the threshold', now()),
   ('fraud', 'v1', toStartOfMinute(now() - INTERVAL 1 HOUR), toStartOfMinute(now() - INTERVAL 59 MINUTE), 'caller_ood',
    'harvester-7', 0.28, 1e-4, 0.2, 0.1, 'warning', 32, 'ref1', '9 of 32 sampled inputs out of range', now())`,
];

// The examples that must return rows on the seed (the others need only run).
const mustReturn = [/caller = 'harvester-7' AND window_start/, /signal = 'poisoning_label_flip'/];

function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'driftwatch-chdb-'));
  const s = new Session(dir);
  let failed = 0;
  const run = (label, sql) => {
    try {
      const out = s.query(sql, 'CSV');
      if (/^docs/.test(label) && mustReturn.some((re) => re.test(sql)) && (!out || out.trim() === '')) {
        failed++;
        console.log(`FAIL ${label}: no rows over the seed: ${sql}`);
        return;
      }
      console.log(`ok   ${label}: ${sql.split('\n')[0].slice(0, 90)}`);
      if (out && out.trim() !== '') console.log(out.trim().split('\n').map((l) => '     ' + l).join('\n'));
    } catch (e) {
      // Migrate treats an ALTER that adds an existing column as done (the
      // CREATE statements already have the latest shape).
      if (/^ALTER TABLE/.test(sql) && /already exists/.test(e.message)) {
        console.log(`ok   ${label}: ${sql.split('\n')[0].slice(0, 90)} (column already there)`);
        return;
      }
      failed++;
      console.log(`FAIL ${label}: ${sql}\n     ${e.message}`);
    }
  };
  try {
    run('version', 'SELECT version()');
    s.query('CREATE DATABASE IF NOT EXISTS driftwatch', 'CSV');
    s.query('USE driftwatch', 'CSV');
    const schema = statements(fs.readFileSync(schemaFile, 'utf8'));
    schema.forEach((sql, i) => run(`schema ${i + 1}/${schema.length}`, sql));
    seed.forEach((sql, i) => run(`seed ${i + 1}/${seed.length}`, sql));
    if (fs.existsSync(docsFile)) {
      const examples = docExamples(fs.readFileSync(docsFile, 'utf8'));
      if (examples.length === 0) {
        failed++;
        console.log(`FAIL no sql examples found in ${docsFile}`);
      }
      examples.forEach((sql, i) => run(`docs example ${i + 1}/${examples.length}`, sql));
    } else {
      failed++;
      console.log(`FAIL ${docsFile} not found`);
    }
  } finally {
    if (typeof s.cleanup === 'function') s.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (failed > 0) {
    console.log(`${failed} statement(s) failed`);
    process.exit(1);
  }
  console.log('all statements ran on chdb');
}

main();
