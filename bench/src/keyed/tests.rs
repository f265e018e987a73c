//! The keyed scenario's names, runs and figures as the JSON results carry them.

use clap::Parser;

use super::report::Row;
use super::{fails_once, specs, Mode, Spec, CONCURRENCIES};
use crate::measurement::Measurement;
use crate::peers::tally::Done;
use crate::peers::{Measured, Peer};
use crate::Cli;

#[test]
fn keyed_runs_only_when_named_over_200000_records_by_default() {
    let cli = Cli::try_parse_from(["retry-bench", "--broker", "kafka", "--only", "keyed"]).unwrap();
    assert_eq!(
        (cli.only, cli.keyed_records),
        (Some(Measurement::Keyed), 200_000)
    );
    assert!(!Measurement::Keyed.by_default());
    let quick = Cli::try_parse_from(["retry-bench", "--only", "keyed", "--keyed-records", "5000"]);
    assert_eq!(quick.unwrap().keyed_records, 5_000);
}

#[test]
fn every_row_runs_at_each_failing_percentage_partition_over_a_tenth() {
    let all = specs(200_000, true);
    assert_eq!(all.len(), 3 * 10);
    let at = |percent| -> Vec<_> {
        all.iter()
            .filter(|s| s.failing_percent == percent)
            .map(|s| (s.peer, s.mode, s.concurrency, s.records))
            .collect()
    };
    let mut expected = vec![(Peer::KafkaRetry, Mode::Partition, 8, 20_000)];
    expected.extend(CONCURRENCIES.map(|c| (Peer::KafkaRetry, Mode::None, c, 200_000)));
    expected.extend(CONCURRENCIES.map(|c| (Peer::KafkaRetry, Mode::Key, c, 200_000)));
    expected.extend(CONCURRENCIES.map(|c| (Peer::ParallelConsumer, Mode::Key, c, 200_000)));
    for percent in [0, 1, 10] {
        assert_eq!(at(percent), expected, "{percent} % failing");
    }
    let without_java = specs(200_000, false);
    assert_eq!(without_java.len(), 3 * 7);
    assert!(without_java.iter().all(|s| s.peer == Peer::KafkaRetry));
}

#[test]
fn a_record_fails_once_where_its_offset_says_in_both_programs() {
    let failing = |percent| (0..1_000).filter(|&o| fails_once(o, percent)).count();
    assert_eq!((failing(0), failing(1), failing(10)), (0, 10, 100));
    assert!(fails_once(0, 1) && fails_once(200, 1) && !fails_once(110, 1));
    assert!(fails_once(110, 10) && !fails_once(111, 10));
}

fn spec() -> Spec {
    Spec {
        peer: Peer::ParallelConsumer,
        mode: Mode::Key,
        concurrency: 256,
        failing_percent: 10,
        records: 11,
    }
}

#[test]
fn runs_have_topics_of_their_own() {
    assert_eq!(spec().topic("keyed"), "keyed-parallel-consumer-key-256-10");
    let topics: std::collections::HashSet<_> =
        specs(100, true).iter().map(|s| s.topic("keyed")).collect();
    assert_eq!(topics.len(), 30);
}

#[test]
fn each_object_has_exactly_the_fields_of_the_results() {
    let measured = Measured {
        done: Done {
            main_records: 11,
            main_window_s: 0.5,
            cpu_s: 0.11,
            ..Done::default()
        },
        peak_rss_kib: 2048,
        threads: 300,
        spawned_ms: 0,
        ready_ms: 0,
    };
    let json = serde_json::to_value(Row::new(&spec(), &measured)).unwrap();
    let mut fields: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "concurrency",
            "cpu_us_per_record",
            "failing_percent",
            "mode",
            "peak_rss_kib",
            "peer",
            "records",
            "records_per_s",
            "threads",
        ]
    );
    assert_eq!(json["peer"], "parallel-consumer");
    assert_eq!(json["mode"], "key");
    assert_eq!(json["records_per_s"], 20.0, "10 intervals in 0.5 s");
    assert!((json["cpu_us_per_record"].as_f64().unwrap() - 10_000.0).abs() < 1e-6);
    for mode in [Mode::Partition, Mode::None, Mode::Key] {
        assert_eq!(serde_json::to_value(mode).unwrap(), mode.name());
    }
}
