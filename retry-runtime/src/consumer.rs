//! One consumer per listener topic: read records and hand them to the processor, in
//! partition order.

use std::sync::Arc;

use rdkafka::consumer::{CommitMode, Consumer};
use tokio_util::sync::CancellationToken;

use crate::context::ListenerConsumer;
use crate::inbound::Inbound;
use crate::lanes::Lanes;
use crate::offsets::InOrderOffsets;
use crate::process::Processor;

/// Where records go: handled in the reading task, forwards pipelined with offsets stored in
/// order (a main topic with `concurrency = 1`, the cheapest path), or queued on per-partition
/// lanes (retry topics and DLTs, whose records wait for their due time, and any topic with
/// `concurrency > 1`).
enum Dispatch {
    Inline(Arc<Processor>, InOrderOffsets),
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
        Dispatch::Inline(processor.clone(), InOrderOffsets::new(consumer.clone()))
    } else {
        Dispatch::Lanes(Lanes::new(
            consumer.clone(),
            processor.clone(),
            concurrency,
            stop.clone(),
        ))
    };
    // Shared by every record this consumer reads, instead of a copy in each.
    let topic: Arc<str> = processor.topic().into();
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let message = match &mut dispatch {
            Dispatch::Inline(_, offsets) => tokio::select! {
                biased;
                _ = &mut stopped => break,
                _ = offsets.store_next(&topic) => continue,
                message = consumer.recv(), if !offsets.full() => message,
            },
            Dispatch::Lanes(_) => tokio::select! {
                biased;
                _ = &mut stopped => break,
                message = consumer.recv() => message,
            },
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "consumer error");
                continue;
            }
        };
        let inbound = Inbound::read(&message, &topic);
        match &mut dispatch {
            Dispatch::Inline(processor, offsets) => {
                let handled = processor.handle(inbound).await;
                match handled.forward {
                    None => offsets.done(&message),
                    Some(forward) => offsets.forwarding(handled.partition, handled.offset, forward),
                }
            }
            Dispatch::Lanes(lanes) => lanes.dispatch(inbound).await,
        }
    }
    match dispatch {
        Dispatch::Inline(_, mut offsets) => offsets.drain(&topic).await,
        Dispatch::Lanes(lanes) => lanes.finish().await,
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
