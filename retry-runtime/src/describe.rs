//! Topic and broker settings read at start-up with the admin API's DescribeConfigs, and
//! consumer groups' members with the classic DescribeGroups, for the checks of
//! `ordering = "key"` (`key_order_checks`) and the size of commit metadata.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, ConfigResourceResult, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::key_order_checks::DescribedGroup;

/// The broker setting bounding a commit's metadata.
const OFFSET_METADATA_MAX_BYTES: &str = "offset.metadata.max.bytes";

/// Each of `topics`' settings (name → value), or why the broker did not describe them.
pub(crate) async fn topic_settings(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[&str],
    timeout: Duration,
) -> Vec<(String, Result<HashMap<String, String>, String>)> {
    let resources: Vec<ResourceSpecifier<'_>> =
        topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    match describe(admin, &resources, timeout).await {
        Ok(results) => topics
            .iter()
            .zip(results)
            .map(|(topic, result)| {
                let settings = result
                    .map(|resource| {
                        resource
                            .entries
                            .into_iter()
                            .filter_map(|entry| Some((entry.name, entry.value?)))
                            .collect()
                    })
                    .map_err(|code| code.to_string());
                ((*topic).to_owned(), settings)
            })
            .collect(),
        Err(error) => topics
            .iter()
            .map(|topic| ((*topic).to_owned(), Err(error.to_string())))
            .collect(),
    }
}

/// The smallest `offset.metadata.max.bytes` of the cluster's brokers that answer, or `None`
/// (logged at DEBUG) when none says: a broker that does not serve DescribeConfigs for
/// brokers (the embedded one) or a client not allowed to.
pub(crate) async fn offset_metadata_max_bytes(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
) -> Option<usize> {
    let client = admin.clone();
    let brokers = tokio::task::spawn_blocking(move || {
        client
            .inner()
            .fetch_metadata(None, timeout)
            .map(|m| m.brokers().iter().map(|b| b.id()).collect::<Vec<_>>())
    })
    .await
    .expect("metadata task panicked");
    let brokers = match brokers {
        Ok(brokers) => brokers,
        Err(error) => {
            tracing::debug!(%error, "brokers not listed; {OFFSET_METADATA_MAX_BYTES} not read");
            return None;
        }
    };
    let mut smallest: Option<usize> = None;
    // librdkafka sends a broker's DescribeConfigs to that broker: one resource a request.
    for broker in brokers {
        let resource = [ResourceSpecifier::Broker(broker)];
        let value = match describe(admin, &resource, timeout)
            .await
            .map(|mut r| r.pop())
        {
            Ok(Some(Ok(resource))) => resource
                .get(OFFSET_METADATA_MAX_BYTES)
                .and_then(|entry| entry.value.as_deref())
                .and_then(|value| value.trim().parse::<usize>().ok()),
            Ok(Some(Err(code))) => {
                tracing::debug!(broker, %code, "broker not described; its {OFFSET_METADATA_MAX_BYTES} not read");
                None
            }
            Ok(None) => None,
            Err(error) => {
                tracing::debug!(broker, %error, "broker not described; its {OFFSET_METADATA_MAX_BYTES} not read");
                None
            }
        };
        if let Some(value) = value {
            smallest = Some(smallest.map_or(value, |s| s.min(value)));
        }
    }
    match smallest {
        Some(bytes) => tracing::debug!(bytes, "the brokers' smallest {OFFSET_METADATA_MAX_BYTES}"),
        None => tracing::debug!("no broker said its {OFFSET_METADATA_MAX_BYTES}"),
    }
    smallest
}

/// Each of `groups` as the classic DescribeGroups describes it (`None` when no broker lists
/// it), or why it was not described, all within `timeout`: librdkafka's call blocks, so it
/// runs off the async workers.
pub(crate) async fn groups(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    groups: Vec<String>,
    timeout: Duration,
) -> Vec<(String, Result<Option<DescribedGroup>, KafkaError>)> {
    let admin = admin.clone();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + timeout;
        groups
            .into_iter()
            .map(|group| {
                let left = deadline.saturating_duration_since(Instant::now());
                let described = if left.is_zero() {
                    Err(KafkaError::GroupListFetch(
                        RDKafkaErrorCode::OperationTimedOut,
                    ))
                } else {
                    admin
                        .inner()
                        .fetch_group_list(Some(&group), left)
                        .map(|list| {
                            list.groups().iter().find(|g| g.name() == group).map(|g| {
                                DescribedGroup {
                                    state: g.state().to_owned(),
                                    members: g
                                        .members()
                                        .iter()
                                        .map(|m| {
                                            (m.client_id().to_owned(), m.client_host().to_owned())
                                        })
                                        .collect(),
                                }
                            })
                        })
                };
                (group, described)
            })
            .collect()
    })
    .await
    .expect("group describe task panicked")
}

/// DescribeConfigs of `resources`, one result each, in their order (librdkafka puts each
/// result at its resource's position).
async fn describe(
    admin: &AdminClient<DefaultClientContext>,
    resources: &[ResourceSpecifier<'_>],
    timeout: Duration,
) -> Result<Vec<ConfigResourceResult>, KafkaError> {
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = tokio::time::timeout(timeout, admin.describe_configs(resources, &options))
        .await
        .map_err(|_| KafkaError::AdminOp(rdkafka::types::RDKafkaErrorCode::RequestTimedOut))??;
    Ok(results)
}
