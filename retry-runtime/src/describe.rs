//! Topic settings read at start-up with the admin API's DescribeConfigs, for the checks of
//! `ordering = "key"` (`key_order_checks`).

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ConfigResourceResult, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;

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

/// DescribeConfigs of `resources`, one result each, in order.
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
