//! The comparison's names and figures as the JSON results carry them, and its bars.

use clap::Parser;

use super::report::{bars, Run};
use super::tally::Done;
use super::{Peer, Workload};
use crate::Cli;

#[test]
fn workloads_take_the_names_of_the_results() {
    let cli = Cli::try_parse_from([
        "retry-bench",
        "--broker",
        "kafka",
        "--peer",
        "spring",
        "--workload",
        "happy,failing10,dlt,io5ms",
    ])
    .unwrap();
    assert_eq!(cli.workload, Workload::ALL);
    for workload in Workload::ALL {
        assert_eq!(serde_json::to_value(workload).unwrap(), workload.name());
    }
    for (peer, name) in [
        (Peer::KafkaRetry, "kafka-retry"),
        (Peer::SpringKafka, "spring-kafka"),
        (Peer::KafkaClients, "kafka-clients"),
        (Peer::ParallelConsumer, "parallel-consumer"),
    ] {
        assert_eq!(serde_json::to_value(peer).unwrap(), name);
        assert_eq!(peer.name(), name);
    }
}

#[test]
fn the_defaults_are_the_full_comparison() {
    let cli =
        Cli::try_parse_from(["retry-bench", "--broker", "kafka", "--peer", "spring"]).unwrap();
    assert_eq!(
        (
            cli.peer_records,
            cli.peer_failing_records,
            cli.peer_dlt_records
        ),
        (1_000_000, 1_000_000, 10_000)
    );
    assert!(cli.workload.is_empty(), "every workload");
}

/// What a Java peer prints after `PEER-DONE `.
const JAVA_DONE: &str = r#"{"first_epoch_ms":1796529479530,"main_records":11,"main_window_s":0.5,"cpu_s":0.11,"lateness_ms":[5,-1,3,4,2,1,0,7,6,9,8]}"#;

fn run(peer: Peer, workload: Workload, cpu_s: f64, rss: u64, startup_s: f64) -> Run {
    let done = Done {
        cpu_s,
        ..serde_json::from_str(JAVA_DONE).unwrap()
    };
    Run::new(peer, workload, 11, &done, rss, 20, startup_s)
}

#[test]
fn each_object_has_exactly_the_fields_of_the_results() {
    let happy = serde_json::to_value(&run(Peer::SpringKafka, Workload::Happy, 1.0, 1, 1.0).figures)
        .unwrap();
    let fields = |v: &serde_json::Value| {
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    let mut expected = vec![
        "cpu_s_per_million",
        "peak_rss_kib",
        "peer",
        "records_per_s",
        "startup_s",
        "threads",
        "workload",
    ];
    assert_eq!(fields(&happy), expected);
    let dlt =
        serde_json::to_value(&run(Peer::KafkaRetry, Workload::Dlt, 1.0, 1, 1.0).figures).unwrap();
    expected.extend(["early", "lateness_p99_ms"]);
    expected.sort();
    assert_eq!(fields(&dlt), expected);
    assert_eq!(dlt["peer"], "kafka-retry");
    assert_eq!(dlt["workload"], "dlt");
}

#[test]
fn figures_come_from_the_report() {
    let r = run(Peer::KafkaRetry, Workload::Dlt, 0.11, 2048, 0.25);
    let f = &r.figures;
    assert_eq!(f.records_per_s, 20.0, "10 intervals in 0.5 s");
    assert!(
        (f.cpu_s_per_million - 10_000.0).abs() < 1e-6,
        "0.11 s for 11 records"
    );
    assert_eq!((f.peak_rss_kib, f.threads, f.startup_s), (2048, 20, 0.25));
    assert_eq!(f.early, Some(1));
    assert_eq!((r.lateness_p50_ms, f.lateness_p99_ms), (Some(4), Some(8)));
    assert_eq!(r.lateness_max_ms, Some(9));
}

#[test]
fn bars_compare_with_spring_in_the_same_run() {
    let runs = [
        run(Peer::KafkaRetry, Workload::Happy, 1.0, 20, 0.3),
        run(Peer::SpringKafka, Workload::Happy, 3.3, 99, 3.3),
        run(Peer::KafkaClients, Workload::Happy, 0.1, 1, 0.1),
    ];
    let met: Vec<_> = bars(&runs)
        .into_iter()
        .map(|bar| (bar.what, bar.met))
        .collect();
    assert_eq!(
        met,
        [
            ("happy: records per CPU-second, x Spring's".to_owned(), true),
            ("happy: peak RSS, of Spring's".to_owned(), false),
            ("happy: start-up, of Spring's".to_owned(), true),
        ]
    );
}
