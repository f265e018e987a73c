//! The items service of the examples: the create-item / update-item scenario where an update
//! can arrive before the create it depends on.
//!
//! * `create-item` (`{"id", "name"}`) stores the item as PENDING.
//! * `update-item` (`{"id", "status"}`) sets its status. An unknown id is `NotFoundYet`, worth
//!   retrying (the create may be on its way); a status other than PENDING, ACTIVE or INACTIVE
//!   is `InvalidStatus`, not worth retrying. Retries: `update-item-retry-1000`, `-2000`,
//!   `-4000`, then `update-item-dlt`.
//! * A DLT handler logs each dead letter with its provenance.
//!
//! The handlers keep items in a [`Store`] they receive as `State<Store>`: the program
//! registers one with `RetryApp::builder().state(..)`, as it would a database pool.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use retry_runtime::prelude::*;
use serde::Deserialize;

pub mod journal;

/// `create-item` payload.
#[derive(Debug, Deserialize)]
pub struct CreateItem {
    /// Item id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// `update-item` payload.
#[derive(Debug, Deserialize)]
pub struct UpdateItem {
    /// Item id.
    pub id: String,
    /// New status.
    pub status: String,
}

/// A stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Display name.
    pub name: String,
    /// PENDING, ACTIVE or INACTIVE.
    pub status: String,
}

/// The update names an item that does not exist yet: retryable.
#[derive(Debug, thiserror::Error)]
#[error("item {0} not created yet")]
pub struct NotFoundYet(pub String);

/// The update names a status that does not exist: not retryable.
#[derive(Debug, thiserror::Error)]
#[error("invalid status {0:?}: expected PENDING, ACTIVE or INACTIVE")]
pub struct InvalidStatus(pub String);

/// The in-memory item store, by id: what a real service would keep in a database. Cloning
/// it is cheap and shares the items.
#[derive(Debug, Clone, Default)]
pub struct Store(Arc<Mutex<BTreeMap<String, Item>>>);

impl Store {
    /// Every item, as it is now.
    pub fn items(&self) -> BTreeMap<String, Item> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Item>> {
        // A handler that panicked while holding the lock left the map whole: every write
        // here is one insert or one field assignment.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Stores a new item as PENDING.
#[retryable_topic(topic = "create-item")]
pub async fn create_item(
    rec: Record<CreateItem>,
    State(store): State<Store>,
) -> anyhow::Result<()> {
    let item = rec.value();
    journal::handled(&rec, format!("created item {} ({})", item.id, item.name));
    store.lock().insert(
        item.id.clone(),
        Item {
            name: item.name.clone(),
            status: "PENDING".into(),
        },
    );
    Ok(())
}

/// Applies a status update, if the item exists and the status is valid.
#[retryable_topic(topic = "update-item", attempts = 4, backoff = "1s*2", include = [NotFoundYet])]
pub async fn update_item(
    rec: Record<UpdateItem>,
    State(store): State<Store>,
) -> anyhow::Result<()> {
    let update = rec.value();
    let result = apply(&store, update);
    match &result {
        Ok(()) => journal::handled(&rec, format!("item {} is now {}", update.id, update.status)),
        Err(error) => journal::failed(&rec, error),
    }
    result
}

fn apply(store: &Store, update: &UpdateItem) -> anyhow::Result<()> {
    if !matches!(update.status.as_str(), "PENDING" | "ACTIVE" | "INACTIVE") {
        return Err(InvalidStatus(update.status.clone()).into());
    }
    let mut items = store.lock();
    let item = items
        .get_mut(&update.id)
        .ok_or_else(|| NotFoundYet(update.id.clone()))?;
    item.status = update.status.clone();
    Ok(())
}

/// Logs a dead update with where it came from and why it died.
#[dlt_handler(topic = "update-item")]
pub async fn update_item_dlt(rec: DeadLetter<UpdateItem>) -> anyhow::Result<()> {
    let p = rec.provenance();
    journal::dead_letter(
        &rec,
        format!(
            "after {} attempt(s) from {}[{}]@{}: {}",
            p.attempts.unwrap_or(0),
            p.original_topic.as_deref().unwrap_or("?"),
            p.original_partition.unwrap_or(-1),
            p.original_offset.unwrap_or(-1),
            p.exception.message
        ),
    );
    Ok(())
}
