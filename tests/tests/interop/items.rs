//! The Rust side: the `items` example's handlers (same topics, groups, attempts, backoff and
//! errors as `interop/`'s Spring service), with the store a shared database would be.

use std::collections::BTreeMap;
use std::sync::Mutex;

use retry_runtime::prelude::*;
use serde::Deserialize;

use crate::support::record_call;

/// The listeners of the Rust items service (the DLT handler comes with its listener), as
/// `Scenario::start_app` takes them.
pub const LISTENERS: [(&str, &str); 2] = [
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

/// Item id → status: what both services would keep in their database.
static STATUSES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// Puts an item into the store, as if created by any instance of the service.
pub fn store_item(id: &str) {
    STATUSES.lock().unwrap().insert(id.into(), "PENDING".into());
}

#[retryable_topic(topic = "create-item")]
async fn create_item(rec: Record<CreateItem>) -> anyhow::Result<()> {
    record_call("create_item", &rec);
    store_item(&rec.value().id);
    Ok(())
}

#[retryable_topic(topic = "update-item", attempts = 4, backoff = "1s*2", include = [NotFoundYet])]
async fn update_item(rec: Record<UpdateItem>) -> anyhow::Result<()> {
    record_call("update_item", &rec);
    let update = rec.value();
    if !matches!(update.status.as_str(), "PENDING" | "ACTIVE" | "INACTIVE") {
        return Err(InvalidStatus(update.status.clone()).into());
    }
    let mut statuses = STATUSES.lock().unwrap();
    let status = statuses
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
