//! The breaker's settings (`breaker`, `probe`, `max_probe_delay`, `RETRY_<HANDLER>_PAUSE_ON`)
//! resolved with the attribute's `pause_on` types into a listener's [`BreakerConfig`].

use crate::backoff::{Backoff, BackoffError};
use crate::breaker::{parse_breaker, BreakerConfig, BreakerSettings, DEFAULT_PROBE};
use crate::classify::ErrorType;
use crate::duration::parse_duration;

use super::{ConfigError, Origin, Setting, Sources};

/// The listener's breaker: `None` when nothing can open it (no `pause_on` types, or
/// `RETRY_<HANDLER>_PAUSE_ON=off`, and `breaker` off). Every breaker setting is parsed and
/// checked either way, so a mistake shows before an override turns the breaker on.
pub(super) fn resolve<F: Fn(&str) -> Option<String>>(
    src: &Sources<'_, F>,
    pause_on: &'static [ErrorType],
) -> Result<Option<BreakerConfig>, ConfigError> {
    let rate = src
        .get(Setting::Breaker, |text| {
            parse_breaker(text).map_err(|e| e.to_string())
        })?
        .flatten();
    let probe = match src.get(Setting::Probe, |text| {
        text.parse::<Backoff>().map_err(|e| e.to_string())
    })? {
        Some(probe) => probe,
        None => DEFAULT_PROBE.parse().expect("the default probe is valid"),
    };
    let max_probe_delay = src.get(Setting::MaxProbeDelay, |text| {
        parse_duration(text).map_err(|e| e.to_string())
    })?;
    let settings = BreakerSettings::new(rate, probe, max_probe_delay).map_err(|e| match e {
        BackoffError::MaxDelayBelowInitial { max, initial } => src.blame(
            Setting::MaxProbeDelay,
            format!("{max:?} is shorter than the first probe delay {initial:?}"),
        ),
        other => src.blame(Setting::MaxProbeDelay, other),
    })?;
    let pause_on = if pause_on_switched_off(src)? {
        &[]
    } else {
        pause_on
    };
    let opens = !pause_on.is_empty() || settings.rate().is_some();
    Ok(opens.then_some(BreakerConfig { settings, pause_on }))
}

/// True when `RETRY_<HANDLER>_PAUSE_ON=off`, the variable's only value. The attribute writes
/// `pause_on` as a list of types, never as a string.
fn pause_on_switched_off<F: Fn(&str) -> Option<String>>(
    src: &Sources<'_, F>,
) -> Result<bool, ConfigError> {
    let Some((value, origin)) = src.raw(Setting::PauseOn) else {
        return Ok(false);
    };
    let reason = match origin {
        Origin::Env(_) if value.trim() == "off" => return Ok(true),
        Origin::Env(_) => {
            "expected `off`, the only value: the error types are written on the attribute, \
             like `pause_on = [DbUnavailable]`"
        }
        _ => "`pause_on` is a list of error types, like `pause_on = [DbUnavailable]`, not a string",
    };
    Err(src.error(Setting::PauseOn, value, origin, reason.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::breaker::{FailureRate, DEFAULT_MAX_PROBE_DELAY};
    use crate::classify::{ErrorFilter, ErrorRules, ErrorType};
    use crate::settings::{ConfigError, ListenerConfig, Origin, Setting};

    #[derive(Debug, thiserror::Error)]
    #[error("database unavailable")]
    struct DbUnavailable;

    static PAUSE_ON: [ErrorType; 1] = [ErrorType::of::<DbUnavailable>()];

    const TOPIC: (Setting, &str) = (Setting::Topic, "update-item");

    fn resolve(
        attribute: &[(Setting, &str)],
        pause_on: &'static [ErrorType],
        env: &[(&str, &str)],
    ) -> Result<ListenerConfig, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let rules = ErrorRules {
            filter: ErrorFilter::RetryAll,
            dlt_routes: &[],
            pause_on,
        };
        ListenerConfig::resolve("update_item", attribute, rules, move |var| {
            env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
        })
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn no_breaker_without_pause_on_or_a_rate() {
        assert_eq!(resolve(&[TOPIC], &[], &[]).unwrap().breaker, None);
        let off = [TOPIC, (Setting::Breaker, "off"), (Setting::Probe, "1s")];
        assert_eq!(resolve(&off, &[], &[]).unwrap().breaker, None);
    }

    #[test]
    fn pause_on_alone_opens_with_the_default_probes() {
        let breaker = resolve(&[TOPIC], &PAUSE_ON, &[]).unwrap().breaker.unwrap();
        assert_eq!(breaker.pause_on, &PAUSE_ON[..]);
        assert_eq!(breaker.settings.rate(), None);
        assert_eq!(
            (
                breaker.settings.first_probe(),
                breaker.settings.max_probe_delay()
            ),
            (secs(5), DEFAULT_MAX_PROBE_DELAY)
        );
    }

    #[test]
    fn a_rate_alone_opens_and_the_probe_settings_apply() {
        let attribute = [
            TOPIC,
            (Setting::Breaker, "20 in 10s"),
            (Setting::Probe, "2s*3"),
            (Setting::MaxProbeDelay, "30s"),
        ];
        let breaker = resolve(&attribute, &[], &[]).unwrap().breaker.unwrap();
        assert!(breaker.pause_on.is_empty());
        assert_eq!(breaker.settings.rate(), FailureRate::new(20, secs(10)));
        let delays: Vec<Duration> = (0..4).map(|n| breaker.settings.probe_delay(n)).collect();
        assert_eq!(delays, [secs(2), secs(6), secs(18), secs(30)]);
    }

    #[test]
    fn environment_overrides_each_breaker_setting() {
        let attribute = [TOPIC, (Setting::Breaker, "20 in 10s")];
        let env = [
            ("RETRY_UPDATE_ITEM_BREAKER", "5 in 1s"),
            ("RETRY_UPDATE_ITEM_PROBE", "1s"),
            ("RETRY_UPDATE_ITEM_MAX_PROBE_DELAY", "2s"),
        ];
        let breaker = resolve(&attribute, &PAUSE_ON, &env)
            .unwrap()
            .breaker
            .unwrap();
        assert_eq!(breaker.settings.rate(), FailureRate::new(5, secs(1)));
        assert_eq!(
            (
                breaker.settings.first_probe(),
                breaker.settings.max_probe_delay()
            ),
            (secs(1), secs(2))
        );
        let off = [("RETRY_UPDATE_ITEM_BREAKER", "off")];
        assert_eq!(resolve(&attribute, &[], &off).unwrap().breaker, None);
        let on = [("RETRY_UPDATE_ITEM_BREAKER", "3 in 1m")];
        let breaker = resolve(&[TOPIC], &[], &on).unwrap().breaker.unwrap();
        assert_eq!(breaker.settings.rate(), FailureRate::new(3, secs(60)));
    }

    #[test]
    fn pause_on_off_turns_the_types_off_and_is_the_only_value() {
        const VAR: &str = "RETRY_UPDATE_ITEM_PAUSE_ON";
        assert_eq!(
            resolve(&[TOPIC], &PAUSE_ON, &[(VAR, "off")])
                .unwrap()
                .breaker,
            None
        );
        let rate = [TOPIC, (Setting::Breaker, "20 in 10s")];
        let breaker = resolve(&rate, &PAUSE_ON, &[(VAR, " off ")])
            .unwrap()
            .breaker
            .unwrap();
        assert!(breaker.pause_on.is_empty(), "the rate still opens it");
        assert_eq!(
            resolve(&[TOPIC], &[], &[(VAR, "off")]).unwrap().breaker,
            None
        );
        for value in ["on", "DbUnavailable", "", "false"] {
            let err = resolve(&[TOPIC], &PAUSE_ON, &[(VAR, value)]).unwrap_err();
            assert_eq!(
                (err.setting, &err.origin),
                (Setting::PauseOn, &Origin::Env(VAR.into()))
            );
            assert!(err.reason.starts_with("expected `off`"), "{err}");
        }
        let err = resolve(&[TOPIC, (Setting::PauseOn, "off")], &[], &[]).unwrap_err();
        assert_eq!(
            (err.setting, err.origin),
            (Setting::PauseOn, Origin::Attribute)
        );
    }

    #[test]
    fn a_malformed_rate_blames_breaker_with_the_parse_error() {
        let err = resolve(&[TOPIC, (Setting::Breaker, "20/10s")], &[], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "listener `update_item`: invalid breaker `20/10s` (from attribute): `20/10s` is not \
             a failure rate: expected `FAILURES in WINDOW`, like `20 in 10s`, or `off`"
        );
        let err = resolve(
            &[TOPIC],
            &PAUSE_ON,
            &[("RETRY_UPDATE_ITEM_BREAKER", "0 in 10s")],
        )
        .unwrap_err();
        assert_eq!(
            (err.setting, &err.origin),
            (
                Setting::Breaker,
                &Origin::Env("RETRY_UPDATE_ITEM_BREAKER".into())
            )
        );
        assert!(err.reason.starts_with("failure count `0`"), "{err}");
        let err = resolve(&[TOPIC, (Setting::Breaker, "20 in 2h")], &[], &[]).unwrap_err();
        assert!(err.reason.contains("one-hour limit"), "{err}");
    }

    #[test]
    fn bad_probe_settings_blame_themselves_even_with_the_breaker_off() {
        let err = resolve(&[TOPIC, (Setting::Probe, "5s*0.5")], &[], &[]).unwrap_err();
        assert_eq!(err.setting, Setting::Probe);
        let err = resolve(&[TOPIC, (Setting::MaxProbeDelay, "soon")], &[], &[]).unwrap_err();
        assert_eq!(err.setting, Setting::MaxProbeDelay);
        let err = resolve(
            &[TOPIC, (Setting::Probe, "10s")],
            &PAUSE_ON,
            &[("RETRY_UPDATE_ITEM_MAX_PROBE_DELAY", "5s")],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "listener `update_item`: invalid max_probe_delay `5s` (from environment variable \
             RETRY_UPDATE_ITEM_MAX_PROBE_DELAY): 5s is shorter than the first probe delay 10s"
        );
    }

    #[test]
    fn the_default_cap_follows_a_long_first_probe() {
        let attribute = [TOPIC, (Setting::Probe, "2m")];
        let breaker = resolve(&attribute, &PAUSE_ON, &[])
            .unwrap()
            .breaker
            .unwrap();
        assert_eq!(breaker.settings.max_probe_delay(), secs(120));
    }
}
