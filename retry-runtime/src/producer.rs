//! A forward producer that is replaced when librdkafka declares it failed for good.
//!
//! An idempotent producer that can no longer keep its guarantee (its producer id fenced or
//! expired, a sequence gap the broker cannot explain) raises a fatal error, after which
//! librdkafka refuses every record with `__FATAL`: retrying on it would spin forever. A new
//! producer starts a new idempotence session; the forwards that failed are sent again on it,
//! their source records uncommitted until then (at-least-once).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::error::KafkaResult;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::ClientConfig;

/// A producer created on first use and again after a fatal error.
pub(crate) struct Renewable {
    config: ClientConfig,
    current: RwLock<Option<Arc<FutureProducer>>>,
}

impl Renewable {
    /// A producer of `config`, created by the first [`get`](Self::get).
    pub fn lazy(config: ClientConfig) -> Self {
        Self {
            config,
            current: RwLock::new(None),
        }
    }

    /// A producer of `config`, created now (so a bad configuration fails start-up).
    pub fn eager(config: ClientConfig) -> KafkaResult<Self> {
        let producer: Arc<FutureProducer> = Arc::new(config.create()?);
        Ok(Self {
            config,
            current: RwLock::new(Some(producer)),
        })
    }

    /// The producer in use, created if there is none.
    pub fn get(&self) -> KafkaResult<Arc<FutureProducer>> {
        if let Some(producer) = &*self.current.read().expect("not poisoned") {
            return Ok(producer.clone());
        }
        let mut current = self.current.write().expect("not poisoned");
        if let Some(producer) = &*current {
            return Ok(producer.clone());
        }
        let producer: Arc<FutureProducer> = Arc::new(self.config.create()?);
        *current = Some(producer.clone());
        Ok(producer)
    }

    /// Retires `failed`, which refused a record with `__FATAL`: the next [`get`](Self::get)
    /// creates a new producer. Of the forwards that saw the same failure, the first retires it
    /// and says why, at ERROR; the others find it retired already.
    pub fn renew(&self, failed: &Arc<FutureProducer>) {
        let mut current = self.current.write().expect("not poisoned");
        if !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, failed)) {
            return;
        }
        let retired = current.take().expect("checked above");
        drop(current);
        let reason = match retired.client().fatal_error() {
            Some((code, reason)) => format!("{reason} ({code:?})"),
            None => "no reason given".to_owned(),
        };
        tracing::error!(
            %reason,
            "the forward producer failed for good; replacing it and sending its records again"
        );
        close(retired);
    }
}

/// Drops `producer` once no forward uses it any more, off the async workers: dropping a
/// producer flushes it and joins its polling thread. Forwards still holding it fail (fatal)
/// or time out within their send timeout.
fn close(producer: Arc<FutureProducer>) {
    tokio::task::spawn_blocking(move || {
        let mut producer = producer;
        loop {
            match Arc::try_unwrap(producer) {
                Ok(last) => return drop(last),
                Err(shared) => producer = shared,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}
