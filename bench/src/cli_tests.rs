//! `--only` and `--broker`: every measurement and broker by the name the documentation gives it,
//! nothing else.

use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};

use crate::brokers::{Brokers, Kind};
use crate::measurement::Measurement;
use crate::Cli;

/// The names bench/README.md and DEVELOPMENT.md give the measurements.
const NAMES: [(&str, Measurement); 7] = [
    ("throughput", Measurement::Throughput),
    ("delay", Measurement::Delay),
    ("memory", Measurement::Memory),
    ("startup", Measurement::Startup),
    ("io", Measurement::Io),
    ("lock-log", Measurement::LockLog),
    ("keyed", Measurement::Keyed),
];

#[test]
fn only_takes_each_measurement_by_its_documented_name() {
    for (name, measurement) in NAMES {
        let cli = Cli::try_parse_from(["retry-bench", "--only", name])
            .unwrap_or_else(|e| panic!("--only {name}: {e}"));
        assert_eq!(cli.only, Some(measurement), "--only {name}");
    }
    assert_eq!(Cli::try_parse_from(["retry-bench"]).unwrap().only, None);
}

#[test]
fn every_measurement_has_a_documented_name() {
    assert_eq!(Measurement::value_variants().len(), NAMES.len());
}

#[test]
fn only_rejects_an_unknown_name_listing_the_known_ones() {
    for name in ["nonsense", "happy", "lock_log", ""] {
        let Err(e) = Cli::try_parse_from(["retry-bench", "--only", name]) else {
            panic!("--only {name:?} was accepted");
        };
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "--only {name:?}");
        let message = e.render().to_string();
        for (known, _) in NAMES {
            assert!(message.contains(known), "{known} not listed in: {message}");
        }
    }
}

#[test]
fn the_json_results_name_measurements_as_only_does() {
    for (name, measurement) in NAMES {
        assert_eq!(serde_json::to_value(measurement).unwrap(), name);
    }
}

/// The names `--broker` takes, and the brokers each measures on.
const BROKERS: [(&str, &[Kind]); 5] = [
    ("mock", &[Kind::Mock]),
    ("embedded", &[Kind::Embedded]),
    ("kafka", &[Kind::Kafka]),
    ("both", &[Kind::Mock, Kind::Embedded]),
    ("all", &[Kind::Mock, Kind::Embedded, Kind::Kafka]),
];

#[test]
fn broker_takes_each_documented_name_and_defaults_to_both() {
    for (name, kinds) in BROKERS {
        let cli = Cli::try_parse_from(["retry-bench", "--broker", name])
            .unwrap_or_else(|e| panic!("--broker {name}: {e}"));
        assert_eq!(cli.broker.kinds(), kinds, "--broker {name}");
    }
    let cli = Cli::try_parse_from(["retry-bench"]).unwrap();
    assert_eq!(cli.broker, Brokers::Both);
    assert_eq!(Brokers::value_variants().len(), BROKERS.len());
}

#[test]
fn broker_rejects_an_unknown_name_instead_of_running_the_embedded_one() {
    for name in ["nonsense", "apache", "Kafka", "tansu", ""] {
        let Err(e) = Cli::try_parse_from(["retry-bench", "--broker", name]) else {
            panic!("--broker {name:?} was accepted");
        };
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "--broker {name:?}");
        let message = e.render().to_string();
        for (known, _) in BROKERS {
            assert!(message.contains(known), "{known} not listed in: {message}");
        }
    }
}
