//! The breaker's state machine on a fake clock: examples, then properties over random
//! sequences of calls, probes and clock moves.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Probes from 1 s doubling to 8 s, opening on 3 failures in 1 s.
fn breaker() -> Breaker {
    let rate = FailureRate::new(3, secs(1));
    Breaker::new(BreakerSettings::new(rate, "1s*2".parse().unwrap(), Some(secs(8))).unwrap())
}

fn probe(breaker: &mut Breaker, now: Instant) -> Probe {
    match breaker.admit(now) {
        Admission::Probe(probe) => probe,
        other => panic!("expected a probe at {now:?}, got {other:?}"),
    }
}

#[test]
fn a_pause_on_error_opens_at_once() {
    let start = Instant::now();
    let mut breaker = breaker();
    let opened = breaker.record(start, CallOutcome::Unavailable);
    assert_eq!(
        opened,
        Some(Transition {
            from: BreakerState::Closed,
            to: BreakerState::Open,
            reason: TransitionReason::Unavailable,
            next_probe_in: Some(secs(1)),
        })
    );
    assert_eq!((breaker.state(), breaker.trips()), (BreakerState::Open, 1));
    assert_eq!(breaker.next_probe_at(), Some(start + secs(1)));
    assert_eq!(
        breaker.admit(start + ms(999)),
        Admission::Wait(Some(start + secs(1)))
    );
}

#[test]
fn failures_open_only_at_the_rate() {
    let start = Instant::now();
    let mut breaker = breaker();
    for at in [0, 600, 1200, 1800, 2400] {
        assert_eq!(
            breaker.record(start + ms(at), CallOutcome::Failed),
            None,
            "{at}"
        );
    }
    assert_eq!(breaker.record(start + ms(2500), CallOutcome::Healthy), None);
    let opened = breaker
        .record(start + ms(2700), CallOutcome::Failed)
        .unwrap();
    assert_eq!(opened.reason, TransitionReason::FailureRate);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn without_a_rate_only_pause_on_errors_open() {
    let start = Instant::now();
    let mut breaker = Breaker::new(BreakerSettings::default());
    for n in 0..1000 {
        assert_eq!(breaker.record(start + ms(n), CallOutcome::Failed), None);
    }
    assert_eq!(breaker.admit(start + secs(1)), Admission::Call);
}

#[test]
fn probes_back_off_to_the_cap_and_a_healthy_probe_closes() {
    let start = Instant::now();
    let mut breaker = breaker();
    breaker.record(start, CallOutcome::Unavailable);
    let mut now = start + secs(1);
    for expected in [2, 4, 8, 8] {
        let p = probe(&mut breaker, now);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert_eq!(
            breaker.admit(now),
            Admission::Wait(None),
            "one probe at a time"
        );
        now += ms(300);
        let reopened = breaker
            .probe_ended(p, now, CallOutcome::Unavailable)
            .unwrap();
        assert_eq!(
            (reopened.from, reopened.to, reopened.reason),
            (
                BreakerState::HalfOpen,
                BreakerState::Open,
                TransitionReason::ProbeFailed
            )
        );
        assert_eq!(reopened.next_probe_in, Some(secs(expected)));
        assert_eq!(
            breaker.admit(now + secs(expected) - ms(1)),
            Admission::Wait(Some(now + secs(expected)))
        );
        now += secs(expected);
    }
    let p = probe(&mut breaker, now);
    let closed = breaker.probe_ended(p, now, CallOutcome::Healthy).unwrap();
    assert_eq!(
        (closed.to, closed.reason, closed.next_probe_in),
        (BreakerState::Closed, TransitionReason::ProbeSucceeded, None)
    );
    assert_eq!(breaker.trips(), 1, "failed probes are not trips");
    // The next trip starts from the first probe delay again.
    breaker.record(now, CallOutcome::Unavailable);
    assert_eq!(breaker.next_probe_at(), Some(now + secs(1)));
    assert_eq!(breaker.trips(), 2);
}

#[test]
fn a_failed_probe_of_an_unclassified_error_reopens_too() {
    let start = Instant::now();
    let mut breaker = breaker();
    breaker.record(start, CallOutcome::Unavailable);
    let p = probe(&mut breaker, start + secs(1));
    let reopened = breaker
        .probe_ended(p, start + secs(1), CallOutcome::Failed)
        .unwrap();
    assert_eq!(reopened.next_probe_in, Some(secs(2)));
}

#[test]
fn calls_ending_while_open_change_nothing() {
    let start = Instant::now();
    let mut breaker = breaker();
    breaker.record(start, CallOutcome::Unavailable);
    for outcome in [
        CallOutcome::Healthy,
        CallOutcome::Failed,
        CallOutcome::Unavailable,
    ] {
        assert_eq!(breaker.record(start + ms(10), outcome), None);
    }
    assert_eq!(breaker.next_probe_at(), Some(start + secs(1)));
    let p = probe(&mut breaker, start + secs(1));
    assert_eq!(
        breaker.record(start + secs(1), CallOutcome::Healthy),
        None,
        "not the probe"
    );
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    breaker.probe_ended(p, start + secs(1), CallOutcome::Healthy);
}

#[test]
fn failures_counted_before_a_trip_are_forgotten_when_it_closes() {
    let start = Instant::now();
    let mut breaker = breaker();
    breaker.record(start, CallOutcome::Failed);
    breaker.record(start, CallOutcome::Failed);
    breaker.record(start, CallOutcome::Failed);
    let p = probe(&mut breaker, start + secs(1));
    breaker.probe_ended(p, start + secs(1), CallOutcome::Healthy);
    assert_eq!(breaker.record(start + secs(1), CallOutcome::Failed), None);
    assert_eq!(breaker.record(start + secs(1), CallOutcome::Failed), None);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn a_cancelled_probe_is_due_again_at_once_with_its_delay_kept() {
    let start = Instant::now();
    let mut breaker = breaker();
    breaker.record(start, CallOutcome::Unavailable);
    let p = probe(&mut breaker, start + secs(1));
    let failed = breaker
        .probe_ended(p, start + secs(1), CallOutcome::Unavailable)
        .unwrap();
    assert_eq!(failed.next_probe_in, Some(secs(2)));
    let p = probe(&mut breaker, start + secs(3));
    let cancelled = breaker.probe_cancelled(p, start + secs(3)).unwrap();
    assert_eq!(
        (cancelled.to, cancelled.reason, cancelled.next_probe_in),
        (
            BreakerState::Open,
            TransitionReason::ProbeCancelled,
            Some(Duration::ZERO)
        )
    );
    let p = probe(&mut breaker, start + secs(3));
    let failed = breaker
        .probe_ended(p, start + secs(3), CallOutcome::Unavailable)
        .unwrap();
    assert_eq!(
        failed.next_probe_in,
        Some(secs(4)),
        "the cancelled probe did not count"
    );
}

#[test]
fn a_probe_of_another_breaker_is_refused() {
    let start = Instant::now();
    let mut other = breaker();
    other.record(start, CallOutcome::Unavailable);
    let foreign = probe(&mut other, start + secs(1));
    let mut breaker = breaker();
    breaker.record(start, CallOutcome::Unavailable);
    let first = probe(&mut breaker, start + secs(1));
    breaker.probe_cancelled(first, start + secs(1));
    let own = probe(&mut breaker, start + secs(1));
    assert_eq!(
        breaker.probe_ended(foreign, start + secs(1), CallOutcome::Healthy),
        None
    );
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert!(breaker
        .probe_ended(own, start + secs(1), CallOutcome::Healthy)
        .is_some());
}

#[test]
fn an_earlier_instant_counts_as_the_latest_seen() {
    let start = Instant::now() + secs(10);
    let mut breaker = breaker();
    breaker.record(start, CallOutcome::Unavailable);
    assert_eq!(
        breaker.admit(start - secs(5)),
        Admission::Wait(Some(start + secs(1)))
    );
    let p = probe(&mut breaker, start + secs(1));
    let failed = breaker.probe_ended(p, start, CallOutcome::Failed).unwrap();
    assert_eq!(
        breaker.next_probe_at(),
        Some(start + secs(1) + failed.next_probe_in.unwrap())
    );
}

#[test]
fn states_name_themselves_for_logs_and_the_gauge() {
    let states = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];
    assert_eq!(
        states.map(|s| s.to_string()),
        ["closed", "open", "half-open"]
    );
    assert_eq!(states.map(BreakerState::gauge), [0, 1, 2]);
}

/// One step of a random run.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A call admitted while closed (or started before the breaker opened) ends.
    Record(CallOutcome),
    /// A record asks to call the handler.
    Admit,
    /// The probe in flight, if any, ends.
    EndProbe(CallOutcome),
    /// The probe in flight, if any, never calls the handler.
    CancelProbe,
}

fn outcome() -> impl Strategy<Value = CallOutcome> {
    prop_oneof![
        4 => Just(CallOutcome::Healthy),
        6 => Just(CallOutcome::Failed),
        1 => Just(CallOutcome::Unavailable),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => outcome().prop_map(Step::Record),
        4 => Just(Step::Admit),
        2 => outcome().prop_map(Step::EndProbe),
        1 => Just(Step::CancelProbe),
    ]
}

/// How far the clock moves before a step, in ms: mostly multiples of 50 ms (see
/// [`settings`]), sometimes anything, sometimes a tick.
fn clock_step() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (0u64..30).prop_map(|n| n * 50),
        2 => 0u64..1500,
        1 => 0u64..3,
    ]
}

fn settings() -> impl Strategy<Value = BreakerSettings> {
    (
        // Multiples of 50 ms, as the clock's steps: failures exactly a window apart, and
        // probes asked for exactly when due, happen often.
        proptest::option::weighted(0.8, (1u32..6, (1u64..60).prop_map(|n| n * 50))),
        (1u64..40).prop_map(|n| n * 50),
        prop::sample::select(vec![1.0, 1.5, 2.0, 3.0]),
        1u64..20,
    )
        .prop_map(|(rate, first, multiplier, cap)| {
            let rate = rate.and_then(|(failures, window)| FailureRate::new(failures, ms(window)));
            let probe = format!("{first}ms*{multiplier}").parse().unwrap();
            BreakerSettings::new(rate, probe, Some(ms(first * cap))).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of call outcomes, probes and clock moves, checked against a model:
    /// closed until a `pause_on` failure (at once) or the rate's count of failures within one
    /// window, never before; while open, no call and at most one probe per probe delay, the
    /// delay growing after each failed probe up to the cap; closed after every healthy probe.
    #[test]
    fn the_breaker_follows_its_model(
        settings in settings(),
        steps in proptest::collection::vec((clock_step(), step()), 1..300),
    ) {
        let start = Instant::now();
        let mut breaker = Breaker::new(settings.clone());
        let mut now = start;
        // The model: failures counted since the breaker last closed, the failed probes in a
        // row, when the next probe is due, and the probe in flight.
        let mut failures: Vec<Instant> = Vec::new();
        let mut failed_probes = 0u32;
        let mut probe_at: Option<Instant> = None;
        let mut in_flight: Option<Probe> = None;
        let mut trips = 0u64;
        for (advance, step) in steps {
            now += ms(advance);
            let before = breaker.state();
            match step {
                Step::Record(outcome) => {
                    let moved = breaker.record(now, outcome);
                    if before != BreakerState::Closed {
                        prop_assert_eq!(moved, None, "a call ending while not closed changes nothing");
                        prop_assert_eq!(breaker.state(), before);
                        continue;
                    }
                    if outcome == CallOutcome::Failed {
                        failures.push(now);
                    }
                    let in_window = |rate: FailureRate| {
                        failures.iter().filter(|t| now.duration_since(**t) < rate.window()).count()
                    };
                    let expected = match outcome {
                        CallOutcome::Healthy => None,
                        CallOutcome::Unavailable => Some(TransitionReason::Unavailable),
                        CallOutcome::Failed => settings
                            .rate()
                            .filter(|rate| in_window(*rate) >= rate.failures() as usize)
                            .map(|_| TransitionReason::FailureRate),
                    };
                    prop_assert_eq!(moved.map(|t| t.reason), expected);
                    if expected.is_some() {
                        trips += 1;
                        failed_probes = 0;
                        probe_at = Some(now + settings.first_probe());
                        prop_assert_eq!(breaker.state(), BreakerState::Open);
                        prop_assert_eq!(breaker.next_probe_at(), probe_at);
                    } else {
                        prop_assert_eq!(breaker.state(), BreakerState::Closed, "opened under the threshold");
                    }
                }
                Step::Admit => match (breaker.admit(now), before) {
                    (Admission::Call, BreakerState::Closed) => {}
                    (Admission::Probe(probe), BreakerState::Open) => {
                        prop_assert!(in_flight.is_none(), "two probes at once");
                        prop_assert!(now >= probe_at.unwrap(), "a probe before its delay");
                        prop_assert_eq!(breaker.state(), BreakerState::HalfOpen);
                        in_flight = Some(probe);
                    }
                    (Admission::Wait(Some(at)), BreakerState::Open) => {
                        prop_assert!(now < at);
                        prop_assert_eq!(Some(at), probe_at);
                    }
                    (Admission::Wait(None), BreakerState::HalfOpen) => {
                        prop_assert!(in_flight.is_some());
                    }
                    (admission, state) => prop_assert!(false, "{:?} while {:?}", admission, state),
                },
                Step::EndProbe(outcome) => {
                    let Some(probe) = in_flight.take() else { continue };
                    let moved = breaker.probe_ended(probe, now, outcome).unwrap();
                    prop_assert_eq!(moved.from, BreakerState::HalfOpen);
                    if outcome == CallOutcome::Healthy {
                        prop_assert_eq!(breaker.state(), BreakerState::Closed);
                        failures.clear();
                        probe_at = None;
                    } else {
                        let previous = settings.probe_delay(failed_probes);
                        failed_probes += 1;
                        let delay = moved.next_probe_in.unwrap();
                        prop_assert!(delay >= previous, "the delay shrank: {:?} < {:?}", delay, previous);
                        prop_assert!(delay <= settings.max_probe_delay());
                        prop_assert_eq!(delay, settings.probe_delay(failed_probes));
                        probe_at = Some(now + delay);
                        prop_assert_eq!(breaker.state(), BreakerState::Open);
                        prop_assert_eq!(breaker.next_probe_at(), probe_at);
                    }
                }
                Step::CancelProbe => {
                    let Some(probe) = in_flight.take() else { continue };
                    breaker.probe_cancelled(probe, now).unwrap();
                    probe_at = Some(now);
                    prop_assert_eq!(breaker.next_probe_at(), probe_at);
                }
            }
            prop_assert_eq!(breaker.trips(), trips);
        }
    }

    /// Probe delays start at the first delay, never shrink and never pass the cap.
    #[test]
    fn probe_delays_grow_to_the_cap(settings in settings(), n in 0u32..64) {
        prop_assert_eq!(settings.probe_delay(0), settings.first_probe());
        prop_assert!(settings.probe_delay(n) <= settings.probe_delay(n + 1));
        prop_assert!(settings.probe_delay(n + 1) <= settings.max_probe_delay());
    }
}
