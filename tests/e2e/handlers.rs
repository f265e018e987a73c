//! Handlers as services write them: dependencies injected as `State<T>`, checked at
//! start-up, and payloads in a binary format (Protobuf) with a typed key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use retry_runtime::core::headers::*;
use retry_runtime::prelude::*;

use crate::support::*;

#[derive(Debug, serde::Deserialize)]
struct Reserve {
    sku: String,
    qty: u32,
}

/// Units in stock by SKU: the database of this service, shared by every call.
#[derive(Clone, Default)]
struct Stock(Arc<Mutex<HashMap<String, u32>>>);

impl Stock {
    fn set(&self, sku: &str, units: u32) {
        self.0.lock().unwrap().insert(sku.to_owned(), units);
    }

    fn units(&self, sku: &str) -> u32 {
        self.0.lock().unwrap().get(sku).copied().unwrap_or(0)
    }
}

/// The largest quantity one reservation may ask for: configuration.
#[derive(Clone, Copy)]
struct MaxQty(u32);

/// Keys of the reservations the DLT handler gave up on.
#[derive(Clone, Default)]
struct GaveUp(Arc<Mutex<Vec<String>>>);

#[derive(Debug, thiserror::Error)]
#[error("{sku}: {wanted} wanted, {have} in stock")]
struct OutOfStock {
    sku: String,
    wanted: u32,
    have: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} units is more than one reservation may take")]
struct TooMany(u32);

/// Takes units out of stock; waits (retries) for a restock, never for an invalid quantity.
#[retryable_topic(topic = "state-reserve", attempts = 3, backoff = "500ms", include = [OutOfStock])]
async fn state_reserve(
    rec: Record<Reserve>,
    State(stock): State<Stock>,
    State(max): State<MaxQty>,
) -> anyhow::Result<()> {
    record_call("state_reserve", &rec);
    let Reserve { sku, qty } = rec.value();
    if *qty > max.0 {
        return Err(TooMany(*qty).into());
    }
    let mut units = stock.0.lock().unwrap();
    let have = units.entry(sku.clone()).or_default();
    if *have < *qty {
        return Err(OutOfStock {
            sku: sku.clone(),
            wanted: *qty,
            have: *have,
        }
        .into());
    }
    *have -= qty;
    Ok(())
}

#[dlt_handler(topic = "state-reserve")]
async fn state_reserve_dlt(
    rec: DeadLetter<Reserve>,
    State(gave_up): State<GaveUp>,
) -> anyhow::Result<()> {
    record_call("state_reserve_dlt", &rec);
    let key = rec.key_str().unwrap_or_default().to_owned();
    gave_up.0.lock().unwrap().push(key);
    Ok(())
}

const RESERVE: &[(&str, &str)] = &[("state_reserve", "state-reserve")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_share_the_registered_state_across_retries_and_the_dlt() {
    let s = Scenario::start().await;
    let stock = Stock::default();
    stock.set("pen", 5);
    let gave_up = GaveUp::default();
    let builder = s
        .app_builder(RESERVE, &[], &[])
        .state(stock.clone())
        .state(MaxQty(10))
        .state(gave_up.clone());
    let app = s.start_built(builder).await;

    s.produce("state-reserve", "a", r#"{"sku":"pen","qty":2}"#)
        .await;
    s.produce("state-reserve", "b", r#"{"sku":"lamp","qty":1}"#)
        .await;
    s.produce("state-reserve", "c", r#"{"sku":"pen","qty":50}"#)
        .await;
    eventually("b failed once", Duration::from_secs(20), || {
        !calls_for("state_reserve", "b").is_empty()
    })
    .await;
    // Restocking through the test's clone reaches the handler: it is the same store.
    stock.set("lamp", 1);
    eventually(
        "b reserved on a retry, c given up",
        Duration::from_secs(20),
        || stock.units("lamp") == 0 && !gave_up.0.lock().unwrap().is_empty(),
    )
    .await;
    app.shutdown().await;

    assert_eq!(stock.units("pen"), 3, "a took 2 of 5; c took none");
    let attempts: Vec<u32> = calls_for("state_reserve", "b")
        .iter()
        .map(|c| c.attempt)
        .collect();
    assert_eq!(
        attempts,
        [1, 2],
        "b: out of stock, then reserved on its retry"
    );
    assert_eq!(*gave_up.0.lock().unwrap(), ["c"]);
    assert_eq!(
        calls_for("state_reserve", "c").len(),
        1,
        "TooMany is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_never_registered_or_registered_twice_stops_start_up_naming_it() {
    let s = Scenario::start().await;
    let start = |builder: retry_runtime::RetryAppBuilder| async move {
        match builder.start().await {
            Ok(app) => {
                app.shutdown().await;
                panic!("the app started")
            }
            Err(error) => error.to_string(),
        }
    };

    let error = start(s.app_builder(RESERVE, &[], &[]).state(Stock::default())).await;
    let max_qty = std::any::type_name::<MaxQty>();
    assert!(
        error.starts_with(&format!(
            "handler `state_reserve` takes `State<{max_qty}>`, but no {max_qty} is registered"
        )),
        "{error}"
    );

    let error = start(
        s.app_builder(RESERVE, &[], &[])
            .state(Stock::default())
            .state(MaxQty(10)),
    )
    .await;
    let gave_up = std::any::type_name::<GaveUp>();
    assert!(
        error.starts_with(&format!(
            "handler `state_reserve_dlt` takes `State<{gave_up}>`"
        )),
        "{error}"
    );

    let error = start(
        s.app_builder(RESERVE, &[], &[])
            .state(Stock::default())
            .state(MaxQty(10))
            .state(GaveUp::default())
            .state(MaxQty(20)),
    )
    .await;
    assert_eq!(
        error,
        format!(
            "state of type {max_qty} is registered twice; register it once (wrap one of the \
             values in a type of its own to keep both)"
        )
    );
    let topics = s.kafka.topics().await.unwrap();
    assert!(
        !topics.contains_key(&s.topic("state-reserve-retry")),
        "start-up stopped before creating anything: {topics:?}"
    );
}

/// A Protobuf message, derived by hand (no `.proto` file or `protoc` needed).
#[derive(Clone, PartialEq, prost::Message)]
struct OrderPlaced {
    #[prost(string, tag = "1")]
    sku: String,
    #[prost(uint32, tag = "2")]
    qty: u32,
}

/// Orders as the handler decoded them: key (a JSON number) and message.
static PLACED: Mutex<Vec<(u64, OrderPlaced)>> = Mutex::new(Vec::new());

#[retryable_topic(topic = "proto-orders", attempts = 3, backoff = "200ms")]
async fn proto_orders(rec: Record<Protobuf<OrderPlaced>>) -> anyhow::Result<()> {
    record_call("proto_orders", &rec);
    let order_no = rec.key_as::<u64>().expect("every order has a key")?;
    PLACED
        .lock()
        .unwrap()
        .push((order_no, rec.value().0.clone()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_payloads_decode_and_garbage_goes_to_the_dlt_naming_the_format() {
    let s = Scenario::start().await;
    let app = s.start_app(&[("proto_orders", "proto-orders")]).await;
    let order = OrderPlaced {
        sku: "pen".into(),
        qty: 2,
    };
    let produce = |key: &'static str, value: Vec<u8>| {
        let s = &s;
        async move {
            s.kafka
                .produce(&s.topic("proto-orders"), Some(key), &value)
                .await
                .expect("produce");
        }
    };
    produce("1001", prost::Message::encode_to_vec(&order)).await;
    // A length-delimited field claiming 5 bytes where 1 follows.
    let garbage = vec![0x0a, 0x05, b'p'];
    produce("1002", garbage.clone()).await;

    let dlt = s.read_n("proto-orders-dlt", 1).await;
    eventually("1001 handled", Duration::from_secs(20), || {
        !PLACED.lock().unwrap().is_empty()
    })
    .await;
    app.shutdown().await;

    assert_eq!(*PLACED.lock().unwrap(), [(1001, order)]);
    assert!(
        calls_for("proto_orders", "1002").is_empty(),
        "the handler never sees what does not decode"
    );
    assert_eq!(dlt.len(), 1);
    let dead = &dlt[0];
    assert_eq!(dead.value.as_deref(), Some(&garbage[..]), "bytes unchanged");
    assert_eq!(header_i32(dead, ATTEMPTS), 2, "not retried");
    let message = header_str(dead, EXCEPTION_MESSAGE);
    assert!(
        message.starts_with(&format!(
            "value is not valid protobuf for {}: failed to decode Protobuf message",
            std::any::type_name::<OrderPlaced>()
        )),
        "{message}"
    );
    assert_eq!(
        header_str(dead, EXCEPTION_CAUSE_FQCN),
        std::any::type_name::<prost::DecodeError>()
    );
}
