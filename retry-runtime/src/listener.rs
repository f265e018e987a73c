//! From the registry to the listeners this app runs: settings resolved, DLT handlers paired.

use retry_core::registry::{DltHandlerSpec, HandlerFn, HandlerFuture, ListenerSpec};
use retry_core::{
    check_subscriptions_unshared, DestinationKind, DestinationTopic, HandlerStates, ListenerConfig,
    RawRecord, Setting,
};

use crate::error::RegistryError;
use crate::state::StateRegistry;

/// One `#[retryable_topic]` handler, ready to run.
#[derive(Debug)]
pub(crate) struct Listener {
    /// Resolved settings and topics.
    pub config: ListenerConfig,
    /// The handler of the main and retry topics.
    pub handler: Handler,
    /// The `#[dlt_handler]` for its DLT, by name.
    pub dlt_handler: Option<(&'static str, Handler)>,
    /// Retry topics and DLTs of its main topic that its plan no longer has and that are its
    /// own (its group committed on them, or it forwarded their records), found at start-up:
    /// consumed as well, their records continuing on the plan (`crate::orphans`).
    pub orphans: Vec<DestinationTopic>,
}

impl Listener {
    /// Every topic this listener consumes: its plan's, then its orphans. Its DLTs only when
    /// its DLT handler starts automatically (Spring's autoStartDltHandler = false: the DLT is
    /// created and written, not consumed).
    pub fn consumed_topics(&self) -> impl Iterator<Item = &DestinationTopic> {
        let consumed =
            |t: &&DestinationTopic| t.kind != DestinationKind::Dlt || self.config.auto_start_dlt;
        self.config
            .topics
            .topics()
            .chain(&self.orphans)
            .filter(consumed)
    }

    /// Whether `topic` is one of its plan's (not an orphan).
    pub fn plans(&self, topic: &str) -> bool {
        self.config.topics.topics().any(|t| t.name == topic)
    }
}

/// A handler function with the values of its `State<T>` arguments, bound at start-up.
#[derive(Debug)]
pub(crate) struct Handler {
    func: HandlerFn,
    states: HandlerStates,
}

impl Handler {
    /// `func` with `states`, the values of its `State<T>` arguments in order.
    pub fn new(func: HandlerFn, states: HandlerStates) -> Self {
        Self { func, states }
    }

    /// Decodes `raw` and calls the handler.
    pub fn call<'a>(&'a self, raw: &'a RawRecord<'a>) -> HandlerFuture<'a> {
        (self.func)(raw, &self.states)
    }
}

/// Resolves `specs` (all, or the ones named in `only`) with environment overrides from `env`,
/// pairs each with the DLT handler naming its topic, and binds every handler's states.
pub(crate) fn resolve<'a>(
    specs: impl IntoIterator<Item = &'a ListenerSpec>,
    dlt_specs: impl IntoIterator<Item = &'a DltHandlerSpec>,
    only: Option<&[String]>,
    env: &dyn Fn(&str) -> Option<String>,
    states: &StateRegistry,
) -> Result<Vec<Listener>, RegistryError> {
    states.check()?;
    let specs: Vec<&ListenerSpec> = specs.into_iter().collect();
    for (i, a) in specs.iter().enumerate() {
        if let Some(b) = specs[i + 1..].iter().find(|b| b.name == a.name) {
            return Err(RegistryError::DuplicateName {
                name: a.name,
                first: a.module_path,
                second: b.module_path,
            });
        }
    }
    if let Some(unknown) = only
        .into_iter()
        .flatten()
        .find(|n| !specs.iter().any(|s| s.name == n.as_str()))
    {
        return Err(RegistryError::UnknownListener(unknown.clone()));
    }
    let selected: Vec<&ListenerSpec> = specs
        .into_iter()
        .filter(|s| only.is_none_or(|names| names.iter().any(|n| n == s.name)))
        .collect();
    if selected.is_empty() {
        return Err(RegistryError::NoListeners);
    }
    let dlt_specs: Vec<&DltHandlerSpec> = dlt_specs.into_iter().collect();
    let mut listeners = Vec::with_capacity(selected.len());
    for spec in &selected {
        let config = ListenerConfig::resolve(spec.name, spec.settings, spec.rules(), env)?;
        let written_topic = spec
            .settings
            .iter()
            .find(|(s, _)| *s == Setting::Topic)
            .map(|(_, t)| *t);
        let mut matching = dlt_specs
            .iter()
            .filter(|d| d.topic == config.policy.topic || Some(d.topic) == written_topic);
        let dlt_spec = matching.next();
        if let (Some(first), Some(second)) = (dlt_spec, matching.next()) {
            return Err(RegistryError::DuplicateDltHandler {
                topic: config.policy.topic.clone(),
                first: first.name,
                second: second.name,
            });
        }
        let handler = Handler::new(spec.handler, states.bind(spec.name, spec.states)?);
        let dlt_handler = match dlt_spec {
            Some(d) => Some((
                d.name,
                Handler::new(d.handler, states.bind(d.name, d.states)?),
            )),
            None => None,
        };
        listeners.push(Listener {
            config,
            handler,
            dlt_handler,
            orphans: Vec::new(),
        });
    }
    check_subscriptions_unshared(listeners.iter().map(|l| &l.config))?;
    check_retry_topics_unshared(&listeners)?;
    if only.is_none() {
        if let Some(orphan) = dlt_specs.iter().find(|d| {
            !listeners
                .iter()
                .any(|l| l.dlt_handler.as_ref().is_some_and(|(n, _)| *n == d.name))
        }) {
            return Err(RegistryError::OrphanDltHandler {
                name: orphan.name,
                topic: orphan.topic,
            });
        }
    }
    Ok(listeners)
}

/// Refuses two listeners whose retry topics or DLTs overlap.
fn check_retry_topics_unshared(listeners: &[Listener]) -> Result<(), RegistryError> {
    let derived = |l: &Listener| {
        l.config
            .topics
            .topics()
            .filter(|t| t.kind != DestinationKind::Main)
            .map(|t| t.name.clone())
            .collect::<Vec<_>>()
    };
    for (i, a) in listeners.iter().enumerate() {
        let a_topics = derived(a);
        for b in &listeners[i + 1..] {
            if let Some(topic) = derived(b).into_iter().find(|t| a_topics.contains(t)) {
                return Err(RegistryError::SharedRetryTopic {
                    first: a.config.name.clone(),
                    second: b.config.name.clone(),
                    topic,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use retry_core::{ErrorFilter, StateType};

    fn ok<'a>(_: &'a RawRecord<'a>, _: &'a HandlerStates) -> HandlerFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    fn spec(
        name: &'static str,
        module_path: &'static str,
        settings: &'static [(Setting, &'static str)],
    ) -> ListenerSpec {
        ListenerSpec {
            name,
            module_path,
            settings,
            errors: ErrorFilter::RetryAll,
            dlt_routes: &[],
            pause_on: &[],
            states: &[],
            handler: ok,
        }
    }

    fn dlt(name: &'static str, topic: &'static str) -> DltHandlerSpec {
        DltHandlerSpec {
            name,
            topic,
            states: &[],
            handler: ok,
        }
    }

    const ORDERS: &[(Setting, &str)] = &[(Setting::Topic, "orders")];
    const ITEMS: &[(Setting, &str)] = &[(Setting::Topic, "items")];

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn no_states() -> StateRegistry {
        StateRegistry::default()
    }

    #[test]
    fn pairs_dlt_handlers_by_topic_even_when_renamed_by_env() {
        let specs = [spec("bill", "app", ORDERS), spec("stock", "app", ITEMS)];
        let dlts = [dlt("bill_dlt", "orders")];
        let env = |v: &str| (v == "RETRY_BILL_TOPIC").then(|| "orders-v2".to_string());
        let listeners = resolve(&specs, &dlts, None, &env, &no_states()).unwrap();
        assert_eq!(listeners[0].config.policy.topic, "orders-v2");
        assert_eq!(
            listeners[0].dlt_handler.as_ref().map(|(n, _)| *n),
            Some("bill_dlt")
        );
        assert!(listeners[1].dlt_handler.is_none());
    }

    #[test]
    fn two_handlers_on_one_topic_may_not_share_its_retry_topics() {
        const AUDIT: &[(Setting, &str)] = &[(Setting::Topic, "orders"), (Setting::Group, "audit")];
        let specs = [spec("bill", "app", ORDERS), spec("audit", "app", AUDIT)];
        let err = resolve(&specs, &[], None, &no_env, &no_states()).unwrap_err();
        assert!(
            matches!(&err, RegistryError::SharedRetryTopic { first, second, topic }
                if first == "bill" && second == "audit" && topic == "orders-retry"),
            "{err}"
        );
        assert!(err.to_string().contains("`bill` and `audit`"), "{err}");
        // One of them on another topic: nothing shared.
        let env = |v: &str| (v == "RETRY_AUDIT_TOPIC").then(|| "orders-audit".to_string());
        assert_eq!(
            resolve(&specs, &[], None, &env, &no_states())
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn two_handlers_may_not_consume_one_topic_in_one_group() {
        const SPLIT: &[(Setting, &str)] = &[
            (Setting::Topic, "orders"),
            (Setting::Group, "bill"),
            (Setting::RetryTopicSuffix, "-split-retry"),
            (Setting::DltTopicSuffix, "-split-dlt"),
        ];
        let specs = [spec("bill", "app", ORDERS), spec("split", "app", SPLIT)];
        let err = resolve(&specs, &[], None, &no_env, &no_states()).unwrap_err();
        assert!(
            matches!(&err, RegistryError::SharedSubscription(shared)
                if shared.first == "bill" && shared.second == "split" && shared.group == "bill"),
            "{err}"
        );
    }

    #[test]
    fn selects_by_name() {
        let specs = [spec("bill", "app", ORDERS), spec("stock", "app", ITEMS)];
        let only = ["stock".to_string()];
        let listeners = resolve(&specs, &[], Some(&only), &no_env, &no_states()).unwrap();
        assert_eq!(listeners.len(), 1);
        assert_eq!(listeners[0].config.name, "stock");
        let unknown = ["nope".to_string()];
        assert!(
            matches!(resolve(&specs, &[], Some(&unknown), &no_env, &no_states()), Err(RegistryError::UnknownListener(n)) if n == "nope")
        );
    }

    #[test]
    fn rejects_ambiguous_registries() {
        let twins = [
            spec("bill", "app::a", ORDERS),
            spec("bill", "app::b", ITEMS),
        ];
        let err = resolve(&twins, &[], None, &no_env, &no_states()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "two #[retryable_topic] handlers are named `bill` (in app::a and app::b); rename one"
        );
        let specs = [spec("bill", "app", ORDERS)];
        let err = resolve(
            &specs,
            &[dlt("x", "orders"), dlt("y", "orders")],
            None,
            &no_env,
            &no_states(),
        )
        .unwrap_err();
        assert!(
            matches!(err, RegistryError::DuplicateDltHandler { .. }),
            "{err}"
        );
        let err =
            resolve(&specs, &[dlt("x", "payments")], None, &no_env, &no_states()).unwrap_err();
        assert!(
            matches!(
                err,
                RegistryError::OrphanDltHandler {
                    topic: "payments",
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            resolve(&[], &[], None, &no_env, &no_states()),
            Err(RegistryError::NoListeners)
        ));
    }

    #[derive(Clone)]
    struct Db;

    #[test]
    fn states_are_bound_for_the_selected_handlers_and_their_dlt_handlers_only() {
        const NEEDS_DB: &[StateType] = &[StateType::of::<Db>()];
        let mut bill = spec("bill", "app", ORDERS);
        bill.states = NEEDS_DB;
        let stock = spec("stock", "app", ITEMS);
        let mut stock_dlt = dlt("stock_dlt", "items");
        stock_dlt.states = NEEDS_DB;
        let specs = [bill, stock];
        let dlts = [stock_dlt];

        let only_bill = ["bill".to_string()];
        let err = resolve(&specs, &dlts, Some(&only_bill), &no_env, &no_states()).unwrap_err();
        assert!(
            matches!(&err, RegistryError::MissingState { handler: "bill", type_name, .. } if type_name.ends_with("Db")),
            "{err}"
        );
        let only_stock = ["stock".to_string()];
        let err = resolve(&specs, &dlts, Some(&only_stock), &no_env, &no_states()).unwrap_err();
        assert!(
            matches!(
                &err,
                RegistryError::MissingState {
                    handler: "stock_dlt",
                    ..
                }
            ),
            "{err}"
        );

        let mut states = no_states();
        states.insert(Db);
        assert_eq!(
            resolve(&specs, &dlts, None, &no_env, &states)
                .unwrap()
                .len(),
            2
        );
        states.insert(Db);
        assert!(matches!(
            resolve(&specs, &dlts, None, &no_env, &states),
            Err(RegistryError::DuplicateState { .. })
        ));
    }
}
