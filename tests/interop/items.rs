//! The Rust side: the `items` example's handlers (same topics, groups, attempts, backoff and
//! errors as `interop/`'s Spring service), with the store a shared database would be.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use retry_runtime::prelude::*;
use serde::Deserialize;

use crate::support::{record_call, App, Scenario};

/// The listeners of the Rust items service (the DLT handler comes with its listener).
const LISTENERS: [(&str, &str); 2] = [
    ("create_item", "create-item"),
    ("update_item", "update-item"),
];

#[derive(Debug, Deserialize)]
pub struct CreateItem {
    id: String,
}

#[derive(Debug, Deserialize)]
pub struct UpdateItem {
    id: String,
    status: String,
}

#[derive(Debug, thiserror::Error)]
#[error("item {0} not created yet")]
pub struct NotFoundYet(String);

#[derive(Debug, thiserror::Error)]
#[error("invalid status {0:?}: expected PENDING, ACTIVE or INACTIVE")]
pub struct InvalidStatus(String);

/// Item id → status: the database both services would share, injected as `State<Store>`.
#[derive(Clone, Default)]
pub struct Store(Arc<Mutex<BTreeMap<String, String>>>);

impl Store {
    /// Puts an item in, as if created by any instance of the service.
    pub fn insert(&self, id: &str) {
        self.0.lock().unwrap().insert(id.into(), "PENDING".into());
    }
}

/// Starts the Rust items service on `s`'s topics with `store`.
pub async fn start(s: &Scenario, store: &Store) -> App {
    s.start_built(s.app_builder(&LISTENERS, &[], &[]).state(store.clone()))
        .await
}

#[retryable_topic(topic = "create-item")]
async fn create_item(rec: Record<CreateItem>, State(store): State<Store>) -> anyhow::Result<()> {
    record_call("create_item", &rec);
    store.insert(&rec.value().id);
    Ok(())
}

#[retryable_topic(topic = "update-item", attempts = 4, backoff = "1s*2", include = [NotFoundYet])]
async fn update_item(rec: Record<UpdateItem>, State(store): State<Store>) -> anyhow::Result<()> {
    record_call("update_item", &rec);
    let update = rec.value();
    if !matches!(update.status.as_str(), "PENDING" | "ACTIVE" | "INACTIVE") {
        return Err(InvalidStatus(update.status.clone()).into());
    }
    let mut items = store.0.lock().unwrap();
    let status = items
        .get_mut(&update.id)
        .ok_or_else(|| NotFoundYet(update.id.clone()))?;
    status.clone_from(&update.status);
    Ok(())
}

#[dlt_handler(topic = "update-item")]
async fn update_item_dlt(rec: DeadLetter<UpdateItem>) -> anyhow::Result<()> {
    record_call("update_item_dlt", &rec);
    Ok(())
}
