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

/// Probes from 1 s doubling to 8 s (so a probe hangs after 8 s), opening on 3 failures in a
/// row within 1 s.
fn breaker() -> Breaker {
    let rate = FailureRate::new(3, secs(1));
    Breaker::new(BreakerSettings::new(rate, "1s*2".parse().unwrap(), Some(secs(8))).unwrap())
}

fn call(breaker: &mut Breaker, now: Instant) -> AdmittedCall {
    match breaker.admit(now) {
        Admission::Call(call) => call,
        other => panic!("expected a call at {now:?}, got {other:?}"),
    }
}

/// A call admitted and ended at `now`.
fn called(breaker: &mut Breaker, now: Instant, outcome: CallOutcome) -> Recorded {
    let call = call(breaker, now);
    breaker.record(now, call, outcome)
}

fn probe(breaker: &mut Breaker, now: Instant) -> Probe {
    match breaker.admit(now) {
        Admission::Probe { probe, hung: None } => probe,
        other => panic!("expected a probe at {now:?}, got {other:?}"),
    }
}

/// A probe admitted and ended at `now`.
fn probed(breaker: &mut Breaker, now: Instant, outcome: CallOutcome) -> Recorded {
    let probe = probe(breaker, now);
    breaker.probe_ended(probe, now, outcome)
}

fn held(fate: Fate) -> HeldFailure {
    match fate {
        Fate::Hold(held) => held,
        other => panic!("expected the record held, got {other:?}"),
    }
}

const PROCEED: Recorded = Recorded {
    fate: Fate::Proceed,
    transition: None,
};

#[test]
fn a_pause_on_error_opens_at_once_and_holds_its_record() {
    let start = Instant::now();
    let mut breaker = breaker();
    let opened = called(&mut breaker, start, CallOutcome::Unavailable);
    assert_eq!(
        opened.transition,
        Some(Transition {
            from: BreakerState::Closed,
            to: BreakerState::Open,
            reason: TransitionReason::Unavailable,
            next_probe_in: Some(secs(1)),
        })
    );
    assert!(held(opened.fate).unavailable());
    assert_eq!((breaker.state(), breaker.trips()), (BreakerState::Open, 1));
    assert_eq!(breaker.next_probe_at(), Some(start + secs(1)));
    assert_eq!(
        breaker.admit(start + ms(999)),
        Admission::Wait(start + secs(1))
    );
}

#[test]
fn failures_open_only_in_a_row_within_the_window() {
    let start = Instant::now();
    let mut breaker = breaker();
    for at in [0, 600, 1200, 1800, 2400] {
        assert_eq!(
            called(&mut breaker, start + ms(at), CallOutcome::Failed),
            PROCEED,
            "{at}: two failures at most within 1s"
        );
    }
    // 1800, 2400 and 2500 are within 1s.
    let opened = called(&mut breaker, start + ms(2500), CallOutcome::Failed);
    assert_eq!(
        opened.transition.map(|t| t.reason),
        Some(TransitionReason::FailureRate)
    );
    assert!(
        !held(opened.fate).unavailable(),
        "the record that tripped it is held"
    );
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn a_healthy_outcome_clears_the_count() {
    let start = Instant::now();
    let mut breaker = breaker();
    // Poison records among successes never trip it, however many and however fast.
    for n in 0..99 {
        let outcome = if n % 3 == 2 {
            CallOutcome::Healthy
        } else {
            CallOutcome::Failed
        };
        assert_eq!(called(&mut breaker, start + ms(n), outcome), PROCEED, "{n}");
    }
    assert_eq!(breaker.counted_failures(), 0);
    let at = start + ms(100);
    called(&mut breaker, at, CallOutcome::Failed);
    called(&mut breaker, at, CallOutcome::Failed);
    assert_eq!(breaker.counted_failures(), 2);
    assert_eq!(
        called(&mut breaker, at, CallOutcome::Failed)
            .transition
            .map(|t| t.reason),
        Some(TransitionReason::FailureRate),
        "three in a row"
    );
}

#[test]
fn without_a_rate_only_pause_on_errors_open() {
    let start = Instant::now();
    let mut breaker = Breaker::new(BreakerSettings::default());
    for n in 0..1000 {
        assert_eq!(
            called(&mut breaker, start + ms(n), CallOutcome::Failed),
            PROCEED
        );
    }
    assert_eq!(
        breaker.admit(start + secs(1)),
        Admission::Call(call(&mut breaker, start))
    );
}

#[test]
fn probes_back_off_to_the_cap_and_a_healthy_probe_closes() {
    let start = Instant::now();
    let mut breaker = breaker();
    called(&mut breaker, start, CallOutcome::Unavailable);
    let mut now = start + secs(1);
    for expected in [2, 4, 8, 8] {
        let p = probe(&mut breaker, now);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert_eq!(
            breaker.admit(now),
            Admission::Wait(now + secs(8)),
            "one probe at a time, until it hangs"
        );
        now += ms(300);
        let reopened = breaker.probe_ended(p, now, CallOutcome::Unavailable);
        assert!(held(reopened.fate).unavailable());
        let reopened = reopened.transition.unwrap();
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
            Admission::Wait(now + secs(expected))
        );
        now += secs(expected);
    }
    let closed = probed(&mut breaker, now, CallOutcome::Healthy);
    assert_eq!(closed.fate, Fate::Proceed);
    let closed = closed.transition.unwrap();
    assert_eq!(
        (closed.to, closed.reason, closed.next_probe_in),
        (BreakerState::Closed, TransitionReason::ProbeSucceeded, None)
    );
    assert_eq!(breaker.trips(), 1, "failed probes are not trips");
    // A trip max_probe_delay after the close starts from the first probe delay again.
    now += secs(8);
    called(&mut breaker, now, CallOutcome::Unavailable);
    assert_eq!(breaker.next_probe_at(), Some(now + secs(1)));
    assert_eq!(breaker.trips(), 2);
}

#[test]
fn a_quick_re_trip_continues_the_probe_backoff() {
    let start = Instant::now();
    let mut breaker = breaker();
    called(&mut breaker, start, CallOutcome::Unavailable);
    probed(&mut breaker, start + secs(1), CallOutcome::Unavailable);
    // One failed probe (1 s), then a healthy one after 2 s.
    let closed_at = start + secs(3);
    probed(&mut breaker, closed_at, CallOutcome::Healthy);
    let opened = called(
        &mut breaker,
        closed_at + secs(8) - ms(1),
        CallOutcome::Unavailable,
    );
    assert_eq!(
        opened.transition.unwrap().next_probe_in,
        Some(secs(4)),
        "the delay after 2 s"
    );
    // A flapping downstream whose first probe always succeeds is probed ever later, up to
    // the cap.
    let mut now = closed_at + secs(8) - ms(1);
    for expected in [8, 8] {
        now += secs(4).max(breaker.next_probe_at().unwrap() - now);
        probed(&mut breaker, now, CallOutcome::Healthy);
        let opened = called(&mut breaker, now + secs(1), CallOutcome::Unavailable);
        assert_eq!(
            opened.transition.unwrap().next_probe_in,
            Some(secs(expected))
        );
    }
}

#[test]
fn an_unclassified_probe_failure_is_judged_by_what_opened_the_breaker() {
    let start = Instant::now();
    // Opened by a pause_on error: the downstream answered without it, the breaker closes
    // and the record goes on as an ordinary failure.
    let mut breaker = breaker();
    called(&mut breaker, start, CallOutcome::Unavailable);
    let answered = probed(&mut breaker, start + secs(1), CallOutcome::Failed);
    assert_eq!(answered.fate, Fate::Proceed);
    let answered = answered.transition.unwrap();
    assert_eq!(
        (answered.to, answered.reason),
        (BreakerState::Closed, TransitionReason::ProbeAnswered)
    );
    // Opened by the rate: it opens again, and the record goes on (one attempt).
    let mut breaker = self::breaker();
    for _ in 0..3 {
        called(&mut breaker, start, CallOutcome::Failed);
    }
    let reopened = probed(&mut breaker, start + secs(1), CallOutcome::Failed);
    assert_eq!(reopened.fate, Fate::Proceed);
    let reopened = reopened.transition.unwrap();
    assert_eq!(
        (reopened.to, reopened.reason, reopened.next_probe_in),
        (
            BreakerState::Open,
            TransitionReason::ProbeFailed,
            Some(secs(2))
        )
    );
    // A pause_on probe failure keeps the cause it opened for.
    probed(&mut breaker, start + secs(3), CallOutcome::Unavailable);
    let reopened = probed(&mut breaker, start + secs(7), CallOutcome::Failed);
    assert_eq!(reopened.transition.unwrap().to, BreakerState::Open);
}

#[test]
fn calls_admitted_before_a_trip_change_nothing_and_their_failures_are_held() {
    let start = Instant::now();
    let mut breaker = breaker();
    let early: Vec<AdmittedCall> = (0..6).map(|_| call(&mut breaker, start)).collect();
    assert!(early.iter().all(|c| c.generation() == 0));
    called(&mut breaker, start, CallOutcome::Unavailable);
    let ends = |breaker: &mut Breaker, call, outcome| breaker.record(start + ms(10), call, outcome);
    // While open.
    assert_eq!(ends(&mut breaker, early[0], CallOutcome::Healthy), PROCEED);
    assert!(!held(ends(&mut breaker, early[1], CallOutcome::Failed).fate).unavailable());
    let again = ends(&mut breaker, early[2], CallOutcome::Unavailable);
    assert_eq!(again.transition, None);
    assert!(held(again.fate).unavailable());
    assert_eq!(breaker.next_probe_at(), Some(start + secs(1)));
    // After a probe closed it: a slow call from before the trip does not trip it again,
    // nor count against the fresh window.
    probed(&mut breaker, start + secs(1), CallOutcome::Healthy);
    let now = start + secs(1);
    let late = breaker.record(now, early[3], CallOutcome::Unavailable);
    assert_eq!(late.transition, None);
    assert!(held(late.fate).unavailable());
    breaker.record(now, early[4], CallOutcome::Failed);
    breaker.record(now, early[5], CallOutcome::Failed);
    called(&mut breaker, now, CallOutcome::Failed);
    assert_eq!(called(&mut breaker, now, CallOutcome::Failed), PROCEED);
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(call(&mut breaker, now).generation(), 1);
}

#[test]
fn a_record_that_is_its_own_outage_goes_on_alone() {
    let start = Instant::now();
    let mut breaker = breaker();
    // Its pause_on failure trips the breaker; another record's probe closes it.
    let first = held(called(&mut breaker, start, CallOutcome::Unavailable).fate);
    probed(&mut breaker, start + secs(1), CallOutcome::Healthy);
    // Handed again, it fails with pause_on again: its own outage, no trip.
    let now = start + secs(2);
    let again = call(&mut breaker, now).resuming(first);
    assert_eq!(
        breaker.record(now, again, CallOutcome::Unavailable),
        Recorded {
            fate: Fate::Alone,
            transition: None
        }
    );
    assert_eq!(breaker.state(), BreakerState::Closed);
    // Another record's pause_on failure still trips it.
    let second = called(&mut breaker, now, CallOutcome::Unavailable);
    assert_eq!(
        second.transition.unwrap().reason,
        TransitionReason::Unavailable
    );
    // A record held for a counted failure that then fails with pause_on trips it.
    let mut breaker = self::breaker();
    for _ in 0..2 {
        called(&mut breaker, start, CallOutcome::Failed);
    }
    let rated = held(called(&mut breaker, start, CallOutcome::Failed).fate);
    probed(&mut breaker, start + secs(1), CallOutcome::Healthy);
    let again = call(&mut breaker, now).resuming(rated);
    let tripped = breaker.record(now, again, CallOutcome::Unavailable);
    assert_eq!(
        tripped.transition.unwrap().reason,
        TransitionReason::Unavailable
    );
    // A held record let through again whose call outlives another trip is held again.
    probed(&mut breaker, now + secs(4), CallOutcome::Healthy);
    let now = now + secs(4);
    let again = call(&mut breaker, now).resuming(held(tripped.fate));
    called(&mut breaker, now, CallOutcome::Unavailable);
    let stale = breaker.record(now, again, CallOutcome::Unavailable);
    assert_eq!(stale.transition, None);
    assert!(held(stale.fate).unavailable());
}

#[test]
fn failures_counted_before_a_trip_are_forgotten_when_it_closes() {
    let start = Instant::now();
    let mut breaker = breaker();
    for _ in 0..3 {
        called(&mut breaker, start, CallOutcome::Failed);
    }
    probed(&mut breaker, start + secs(1), CallOutcome::Healthy);
    assert_eq!(
        called(&mut breaker, start + secs(1), CallOutcome::Failed),
        PROCEED
    );
    assert_eq!(
        called(&mut breaker, start + secs(1), CallOutcome::Failed),
        PROCEED
    );
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn a_cancelled_probe_is_due_again_at_once_with_its_delay_kept() {
    let start = Instant::now();
    let mut breaker = breaker();
    called(&mut breaker, start, CallOutcome::Unavailable);
    let failed = probed(&mut breaker, start + secs(1), CallOutcome::Unavailable);
    assert_eq!(failed.transition.unwrap().next_probe_in, Some(secs(2)));
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
    let failed = probed(&mut breaker, start + secs(3), CallOutcome::Unavailable);
    assert_eq!(
        failed.transition.unwrap().next_probe_in,
        Some(secs(4)),
        "the cancelled probe did not count"
    );
}

#[test]
fn a_hung_probe_is_written_off_and_its_late_outcome_ignored() {
    let start = Instant::now();
    let mut breaker = breaker();
    called(&mut breaker, start, CallOutcome::Unavailable);
    let hung = probe(&mut breaker, start + secs(1));
    let written_off = start + secs(9);
    assert_eq!(
        breaker.admit(written_off - ms(1)),
        Admission::Wait(written_off)
    );
    let Admission::Probe {
        probe: next,
        hung: Some(transition),
    } = breaker.admit(written_off)
    else {
        panic!("the next record asking is the next probe")
    };
    assert_eq!(
        transition,
        Transition {
            from: BreakerState::HalfOpen,
            to: BreakerState::Open,
            reason: TransitionReason::ProbeHung,
            next_probe_in: Some(Duration::ZERO),
        }
    );
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    // The hung call ends: nothing changes, its retryable failure is held.
    let late = breaker.probe_ended(hung, written_off + secs(1), CallOutcome::Healthy);
    assert_eq!(late, PROCEED);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    // The hung probe counted as failed: the next failure waits the third delay.
    let failed = breaker.probe_ended(next, written_off + secs(1), CallOutcome::Unavailable);
    assert_eq!(failed.transition.unwrap().next_probe_in, Some(secs(4)));
    let hung = probe(&mut breaker, written_off + secs(5));
    let next = match breaker.admit(written_off + secs(13)) {
        Admission::Probe {
            probe,
            hung: Some(_),
        } => probe,
        other => panic!("expected a probe replacing the hung one, got {other:?}"),
    };
    let late = breaker.probe_ended(hung, written_off + secs(14), CallOutcome::Failed);
    assert_eq!(late.transition, None);
    assert!(!held(late.fate).unavailable());
    assert_eq!(
        breaker
            .probe_cancelled(next, written_off + secs(14))
            .unwrap()
            .reason,
        TransitionReason::ProbeCancelled
    );
}

#[test]
fn a_probe_ending_after_its_write_off_instant_is_written_off_unasked() {
    let start = Instant::now();
    let mut breaker = breaker();
    called(&mut breaker, start, CallOutcome::Unavailable);
    let hung = probe(&mut breaker, start + secs(1));
    // Nobody asked since the probe started; it ends healthy 8 s after it started.
    let late = breaker.probe_ended(hung, start + secs(9), CallOutcome::Healthy);
    assert_eq!(late.fate, Fate::Proceed);
    assert_eq!(
        late.transition.map(|t| (t.reason, t.next_probe_in)),
        Some((TransitionReason::ProbeHung, Some(Duration::ZERO)))
    );
    assert_eq!(breaker.state(), BreakerState::Open);
    // The next probe is due at once, and the hung one counted as failed.
    let failed = probed(&mut breaker, start + secs(9), CallOutcome::Unavailable);
    assert_eq!(failed.transition.unwrap().next_probe_in, Some(secs(4)));
    // Given back late, a probe is written off as hung too.
    let given_back = probe(&mut breaker, start + secs(13));
    let moved = breaker
        .probe_cancelled(given_back, start + secs(21))
        .unwrap();
    assert_eq!(moved.reason, TransitionReason::ProbeHung);
}

#[test]
fn a_probe_of_another_breaker_is_refused() {
    let start = Instant::now();
    let mut other = breaker();
    called(&mut other, start, CallOutcome::Unavailable);
    let foreign = probe(&mut other, start + secs(1));
    let mut breaker = breaker();
    called(&mut breaker, start, CallOutcome::Unavailable);
    let first = probe(&mut breaker, start + secs(1));
    breaker.probe_cancelled(first, start + secs(1));
    let own = probe(&mut breaker, start + secs(1));
    assert_eq!(
        breaker.probe_ended(foreign, start + secs(1), CallOutcome::Healthy),
        PROCEED
    );
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert!(breaker
        .probe_ended(own, start + secs(1), CallOutcome::Healthy)
        .transition
        .is_some());
}

#[test]
fn an_earlier_instant_counts_as_the_latest_seen() {
    let start = Instant::now() + secs(10);
    let mut breaker = breaker();
    called(&mut breaker, start, CallOutcome::Unavailable);
    assert_eq!(
        breaker.admit(start - secs(5)),
        Admission::Wait(start + secs(1))
    );
    let p = probe(&mut breaker, start + secs(1));
    let failed = breaker.probe_ended(p, start, CallOutcome::Unavailable);
    assert_eq!(
        breaker.next_probe_at(),
        Some(start + secs(1) + failed.transition.unwrap().next_probe_in.unwrap())
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
    /// A record asks to call the handler: a new one, or one held before (picked by the
    /// index, when any is held).
    Admit { held: Option<prop::sample::Index> },
    /// A call in flight (picked by the index), admitted while closed, ends.
    EndCall(prop::sample::Index, CallOutcome),
    /// A probe in flight (picked by the index; hung ones included) ends.
    EndProbe(prop::sample::Index, CallOutcome),
    /// A probe in flight never calls the handler.
    CancelProbe(prop::sample::Index),
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
        6 => proptest::option::weighted(0.3, any::<prop::sample::Index>())
            .prop_map(|held| Step::Admit { held }),
        6 => (any::<prop::sample::Index>(), outcome()).prop_map(|(i, o)| Step::EndCall(i, o)),
        2 => (any::<prop::sample::Index>(), outcome()).prop_map(|(i, o)| Step::EndProbe(i, o)),
        1 => any::<prop::sample::Index>().prop_map(Step::CancelProbe),
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

/// What the model expects of a call's end.
enum Expected {
    /// The record goes on alone: its own outage.
    Alone,
    /// The transition's reason and next probe delay, if it opens, and whether the record is
    /// held (and for `pause_on`).
    Judged(Option<(TransitionReason, Duration)>, Option<bool>),
}

/// What the breaker should be, written from design/breaker.md independently of the machine.
struct Model {
    settings: BreakerSettings,
    state: BreakerState,
    /// What opened it: `Unavailable` or `FailureRate`.
    cause: TransitionReason,
    /// Trips so far.
    generation: u64,
    /// Counted failures since the last healthy outcome or close.
    failures: Vec<Instant>,
    failed_probes: u32,
    probe_at: Instant,
    /// When the probe in flight started, and its number in the run.
    probe: Option<(Instant, usize)>,
    /// When it last closed, and after how many failed probes.
    closed: Option<(Instant, u32)>,
}

impl Model {
    fn new(settings: BreakerSettings, start: Instant) -> Self {
        Self {
            settings,
            state: BreakerState::Closed,
            cause: TransitionReason::Unavailable,
            generation: 0,
            failures: Vec::new(),
            failed_probes: 0,
            probe_at: start,
            probe: None,
            closed: None,
        }
    }

    /// The fate of a record whose outcome changes nothing.
    fn ignored(outcome: CallOutcome) -> Option<bool> {
        (outcome != CallOutcome::Healthy).then_some(outcome == CallOutcome::Unavailable)
    }

    /// A call of `generation` ends: what the breaker should answer.
    fn call_ended(
        &mut self,
        now: Instant,
        generation: u64,
        resumes_unavailable: bool,
        outcome: CallOutcome,
    ) -> Expected {
        if generation != self.generation || self.state != BreakerState::Closed {
            return Expected::Judged(None, Self::ignored(outcome));
        }
        let cause = match outcome {
            CallOutcome::Healthy => {
                self.failures.clear();
                return Expected::Judged(None, None);
            }
            CallOutcome::Unavailable if resumes_unavailable => return Expected::Alone,
            CallOutcome::Unavailable => TransitionReason::Unavailable,
            CallOutcome::Failed => {
                self.failures.push(now);
                let Some(rate) = self.settings.rate() else {
                    return Expected::Judged(None, None);
                };
                let within = self
                    .failures
                    .iter()
                    .filter(|t| now.duration_since(**t) < rate.window())
                    .count();
                if within < rate.failures() as usize {
                    return Expected::Judged(None, None);
                }
                TransitionReason::FailureRate
            }
        };
        self.generation += 1;
        self.cause = cause;
        self.failed_probes = match self.closed {
            Some((at, n)) if now.duration_since(at) < self.settings.max_probe_delay() => n + 1,
            _ => 0,
        };
        let delay = self.settings.probe_delay(self.failed_probes);
        self.state = BreakerState::Open;
        self.probe_at = now + delay;
        Expected::Judged(
            Some((cause, delay)),
            Some(outcome == CallOutcome::Unavailable),
        )
    }

    /// The failures in a row within one window of the latest, at most the rate's count.
    fn counted(&self) -> usize {
        let (Some(rate), Some(latest)) = (self.settings.rate(), self.failures.last()) else {
            return 0;
        };
        let within = self
            .failures
            .iter()
            .filter(|t| latest.duration_since(**t) < rate.window());
        within.count().min(rate.failures() as usize)
    }

    fn close(&mut self, now: Instant) {
        self.state = BreakerState::Closed;
        self.failures.clear();
        self.probe = None;
        self.closed = Some((now, self.failed_probes));
    }

    /// Writes off a probe that started `max_probe_delay` ago, as failed: the transition.
    fn write_off(&mut self, now: Instant) -> Option<Transition> {
        let (since, _) = self.probe?;
        let hung_at = since + self.settings.max_probe_delay();
        if now < hung_at {
            return None;
        }
        self.failed_probes += 1;
        self.state = BreakerState::Open;
        self.probe = None;
        self.probe_at = hung_at;
        Some(Transition {
            from: BreakerState::HalfOpen,
            to: BreakerState::Open,
            reason: TransitionReason::ProbeHung,
            next_probe_in: Some(Duration::ZERO),
        })
    }

    fn reopen(&mut self, now: Instant) -> Duration {
        self.failed_probes += 1;
        let delay = self.settings.probe_delay(self.failed_probes);
        self.state = BreakerState::Open;
        self.probe = None;
        self.probe_at = now + delay;
        delay
    }
}

fn fate_of(held: Option<bool>) -> impl Fn(&Fate) -> bool {
    move |fate| match (fate, held) {
        (Fate::Proceed, None) => true,
        (Fate::Hold(h), Some(unavailable)) => h.unavailable() == unavailable,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of admissions, call outcomes, probes and clock moves, checked against a
    /// model of design/breaker.md: closed until a `pause_on` failure (at once) or the rate's
    /// count of failures in a row within one window, never before; outcomes of calls from an
    /// earlier generation ignored and their failures held; a record held for `pause_on` that
    /// fails with it again going on alone; while open, no call and at most one probe per
    /// probe delay, the delay growing after each failed or hung probe up to the cap, and
    /// continuing after a quick re-trip; an unclassified probe failure judged by the cause;
    /// closed after every healthy probe.
    #[test]
    fn the_breaker_follows_its_model(
        settings in settings(),
        steps in proptest::collection::vec((clock_step(), step()), 1..300),
    ) {
        let start = Instant::now();
        let mut breaker = Breaker::new(settings.clone());
        let mut model = Model::new(settings.clone(), start);
        let max = settings.max_probe_delay();
        let mut now = start;
        // Calls in flight with the generation they were admitted in; records held; probes
        // in flight with their number in the run.
        let mut calls: Vec<(AdmittedCall, u64, bool)> = Vec::new();
        let mut held: Vec<HeldFailure> = Vec::new();
        let mut probes: Vec<(Probe, usize)> = Vec::new();
        let mut started = 0usize;
        for (advance, step) in steps {
            now += ms(advance);
            match step {
                Step::Admit { held: pick } => {
                    let resumed = pick.filter(|_| !held.is_empty()).map(|i| held.remove(i.index(held.len())));
                    let hung = model.write_off(now);
                    match (breaker.admit(now), model.state) {
                        (Admission::Call(call), BreakerState::Closed) => {
                            prop_assert_eq!(call.generation(), model.generation);
                            let call = resumed.map_or(call, |h| call.resuming(h));
                            calls.push((call, model.generation, resumed.is_some_and(|h| h.unavailable())));
                        }
                        (Admission::Probe { probe, hung: written_off }, BreakerState::Open) => {
                            prop_assert!(now >= model.probe_at, "a probe before its delay");
                            prop_assert_eq!(written_off, hung);
                            started += 1;
                            model.state = BreakerState::HalfOpen;
                            model.probe = Some((now, started));
                            probes.push((probe, started));
                        }
                        (Admission::Wait(at), BreakerState::Open) => {
                            prop_assert!(now < at);
                            prop_assert_eq!(at, model.probe_at);
                            held.extend(resumed);
                        }
                        (Admission::Wait(at), BreakerState::HalfOpen) => {
                            prop_assert!(now < at);
                            prop_assert_eq!(at, model.probe.unwrap().0 + max);
                            held.extend(resumed);
                        }
                        (admission, state) => prop_assert!(false, "{:?} while {:?}", admission, state),
                    }
                }
                Step::EndCall(pick, outcome) => {
                    if calls.is_empty() {
                        continue;
                    }
                    let (call, generation, resumes_unavailable) = calls.remove(pick.index(calls.len()));
                    let before = model.state;
                    let recorded = breaker.record(now, call, outcome);
                    match model.call_ended(now, generation, resumes_unavailable, outcome) {
                        Expected::Alone => prop_assert_eq!(recorded, Recorded { fate: Fate::Alone, transition: None }),
                        Expected::Judged(moved, hold) => {
                            prop_assert!(fate_of(hold)(&recorded.fate), "{:?}, expected held {:?}", recorded.fate, hold);
                            if let Fate::Hold(h) = recorded.fate {
                                held.push(h);
                            }
                            let expected = moved.map(|(reason, delay)| Transition {
                                from: before,
                                to: BreakerState::Open,
                                reason,
                                next_probe_in: Some(delay),
                            });
                            prop_assert_eq!(recorded.transition, expected);
                        }
                    }
                    prop_assert_eq!(breaker.state(), model.state, "opened under the threshold, or not at it");
                }
                Step::EndProbe(pick, outcome) => {
                    if probes.is_empty() {
                        continue;
                    }
                    let (probe, number) = probes.remove(pick.index(probes.len()));
                    let recorded = breaker.probe_ended(probe, now, outcome);
                    let hung = model.write_off(now);
                    if model.probe.map(|(_, n)| n) != Some(number) {
                        prop_assert_eq!(recorded.transition, hung, "a hung probe's outcome changed the state");
                        prop_assert!(fate_of(Model::ignored(outcome))(&recorded.fate));
                    } else {
                        let previous = settings.probe_delay(model.failed_probes);
                        let (to, reason, delay, hold) = match (outcome, model.cause) {
                            (CallOutcome::Healthy, _) => {
                                model.close(now);
                                (BreakerState::Closed, TransitionReason::ProbeSucceeded, None, None)
                            }
                            (CallOutcome::Failed, TransitionReason::Unavailable) => {
                                model.close(now);
                                (BreakerState::Closed, TransitionReason::ProbeAnswered, None, None)
                            }
                            (CallOutcome::Failed, _) => {
                                let delay = model.reopen(now);
                                (BreakerState::Open, TransitionReason::ProbeFailed, Some(delay), None)
                            }
                            (CallOutcome::Unavailable, _) => {
                                let delay = model.reopen(now);
                                (BreakerState::Open, TransitionReason::ProbeFailed, Some(delay), Some(true))
                            }
                        };
                        if let Some(delay) = delay {
                            prop_assert!(delay >= previous, "the delay shrank: {:?} < {:?}", delay, previous);
                            prop_assert!(delay <= max);
                        }
                        prop_assert!(fate_of(hold)(&recorded.fate));
                        if outcome == CallOutcome::Healthy {
                            prop_assert_eq!(breaker.state(), BreakerState::Closed, "a healthy probe left it not closed");
                        }
                        prop_assert_eq!(recorded.transition, Some(Transition {
                            from: BreakerState::HalfOpen,
                            to,
                            reason,
                            next_probe_in: delay,
                        }));
                    }
                    if let Fate::Hold(h) = recorded.fate {
                        held.push(h);
                    }
                }
                Step::CancelProbe(pick) => {
                    if probes.is_empty() {
                        continue;
                    }
                    let (probe, number) = probes.remove(pick.index(probes.len()));
                    let moved = breaker.probe_cancelled(probe, now);
                    let hung = model.write_off(now);
                    if model.probe.map(|(_, n)| n) == Some(number) {
                        prop_assert_eq!(moved.map(|t| t.reason), Some(TransitionReason::ProbeCancelled));
                        model.state = BreakerState::Open;
                        model.probe = None;
                        model.probe_at = now;
                    } else {
                        prop_assert_eq!(moved, hung);
                    }
                }
            }
            prop_assert_eq!(breaker.state(), model.state);
            prop_assert_eq!(breaker.trips(), model.generation);
            prop_assert_eq!(breaker.counted_failures(), model.counted());
            let next_probe_at = (model.state == BreakerState::Open).then_some(model.probe_at);
            prop_assert_eq!(breaker.next_probe_at(), next_probe_at);
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
