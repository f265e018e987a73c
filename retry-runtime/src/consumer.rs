//! One consumer per listener topic: read records and hand them to the processor, in
//! partition order.

use std::sync::Arc;

use rdkafka::consumer::{CommitMode, Consumer};
use tokio_util::sync::CancellationToken;

use crate::context::ListenerConsumer;
use crate::inbound::Inbound;
use crate::lanes::Lanes;
use crate::process::Processor;

/// Where records go: handled in the reading task (a main topic with `concurrency = 1`, the
/// cheapest path), or queued on per-partition lanes (retry topics and DLTs, whose records
/// wait for their due time, and any topic with `concurrency > 1`).
enum Dispatch {
    Inline(Arc<Processor>),
    Lanes(Lanes),
}

/// Consumes until `stop`, then finishes in-flight records and commits what was done.
pub(crate) async fn consume(
    consumer: Arc<ListenerConsumer>,
    processor: Arc<Processor>,
    concurrency: usize,
    stop: CancellationToken,
) {
    let mut dispatch = if concurrency <= 1 && !processor.holds_delayed_records() {
        Dispatch::Inline(processor.clone())
    } else {
        Dispatch::Lanes(Lanes::new(
            consumer.clone(),
            processor.clone(),
            concurrency,
            stop.clone(),
        ))
    };
    loop {
        let message = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            message = consumer.recv() => message,
        };
        let inbound = match message {
            Ok(message) => Inbound::read(&message),
            Err(error) => {
                tracing::warn!(%error, "consumer error");
                continue;
            }
        };
        match &mut dispatch {
            Dispatch::Inline(processor) => processor.process(inbound).await,
            Dispatch::Lanes(lanes) => lanes.dispatch(inbound),
        }
    }
    if let Dispatch::Lanes(lanes) = dispatch {
        lanes.finish().await;
    }
    drop(processor);
    // The final commit and leaving the group wait on the broker: keep them off the async
    // workers, which may be serving that very broker (the embedded one) or other consumers.
    if let Err(error) = tokio::task::spawn_blocking(move || close(consumer)).await {
        tracing::error!(%error, "closing the consumer failed");
    }
}

/// Commits the stored offsets and leaves the group (when the last reference drops).
fn close(consumer: Arc<ListenerConsumer>) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        Err(rdkafka::error::KafkaError::ConsumerCommit(
            rdkafka::types::RDKafkaErrorCode::NoOffset,
        )) => {}
        Err(error) => {
            tracing::warn!(%error, "final commit failed; uncommitted records will be redelivered")
        }
    }
    consumer.unsubscribe();
    drop(consumer);
}
