//! A partition's records dequeued in batches (design/batch-reads.md).
//!
//! rdkafka's partition stream takes one record per call through librdkafka's event API (a
//! clock read, the queue's lock, an event built and destroyed around each record), which
//! was most of a partition task's cost per record. rdkafka has no batch call on a split
//! partition queue, so this module makes one from librdkafka's
//! `rd_kafka_consume_batch_queue` on a second handle of the same queue. The stream stays
//! the task's way to wait for records.

use std::collections::VecDeque;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Message, Timestamp};
use rdkafka::types::RDKafkaErrorCode;

use crate::context::ListenerConsumer;

/// Records a main topic's task dequeues at once, at most.
const MAIN_BATCH: usize = 32;

/// About how many bytes of records a main topic's batch holds: after a batch whose largest
/// record is larger than this over [`MAIN_BATCH`], the next batch is smaller, down to one
/// record for records of this size or larger.
const BATCH_BYTES: usize = 256 << 10;

/// A record taken from a partition's queue, by the batch call or by rdkafka's stream.
pub(crate) enum Read<'c> {
    /// Dequeued in a batch.
    Batched(BatchedMessage<'c>),
    /// Read through rdkafka's partition stream, when the task waited for it.
    Streamed(BorrowedMessage<'c>),
}

impl Read<'_> {
    /// Stores the offset after this record with the client (librdkafka stores `offset + 1`),
    /// through the message's own topic handle, without looking the topic up by name.
    pub fn store_offset(&self, consumer: &ListenerConsumer) -> KafkaResult<()> {
        match self {
            Self::Batched(message) => message.store_offset(),
            Self::Streamed(message) => consumer.store_offset_from_message(message),
        }
    }
}

crate::message_enum::forward_message!(Read { Batched, Streamed });

/// A record dequeued by `rd_kafka_consume_batch_queue`, destroyed on drop; it cannot
/// outlive the queue handle it came from (`'c`), nor, so, the consumer.
pub(crate) struct BatchedMessage<'c> {
    ptr: *mut rdsys::rd_kafka_message_t,
    queue: PhantomData<&'c QueueHandle>,
}

// SAFETY: a librdkafka message may be read from any thread and destroyed from any thread;
// it is never written through this type.
unsafe impl Send for BatchedMessage<'_> {}
// SAFETY: as rdkafka's `BorrowedMessage`, which is `Sync` alike: the one lazy write behind a
// shared reference (librdkafka parsing the headers on first read) happens in the task that
// owns the record, which reads its headers once, before handing out references.
unsafe impl Sync for BatchedMessage<'_> {}

impl Drop for BatchedMessage<'_> {
    fn drop(&mut self) {
        // SAFETY: the message was dequeued for this value alone and is destroyed once.
        unsafe { rdsys::rd_kafka_message_destroy(self.ptr) }
    }
}

impl BatchedMessage<'_> {
    fn native(&self) -> &rdsys::rd_kafka_message_t {
        // SAFETY: a live message, owned by this value.
        unsafe { &*self.ptr }
    }

    /// The error librdkafka put in the queue in place of a record, if it is one.
    fn error(&self) -> Option<KafkaError> {
        let code = self.native().err;
        (code != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
            .then(|| KafkaError::MessageConsumption(RDKafkaErrorCode::from(code)))
    }

    fn store_offset(&self) -> KafkaResult<()> {
        let native = self.native();
        // SAFETY: the message's topic handle lives as long as the message.
        let code =
            unsafe { rdsys::rd_kafka_offset_store(native.rkt, native.partition, native.offset) };
        match code {
            rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(()),
            code => Err(KafkaError::StoreOffset(RDKafkaErrorCode::from(code))),
        }
    }

    /// The message's bytes of key and value.
    fn size(&self) -> usize {
        let native = self.native();
        native.len + native.key_len
    }
}

/// `len` bytes at `ptr`, `None` for a null pointer.
///
/// # Safety
/// `ptr` is null or points to `len` bytes that live as long as `'a`.
unsafe fn bytes<'a>(ptr: *const std::ffi::c_void, len: usize) -> Option<&'a [u8]> {
    // SAFETY: the caller's contract.
    (!ptr.is_null()).then(|| unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

impl Message for BatchedMessage<'_> {
    type Headers = BorrowedHeaders;

    fn key(&self) -> Option<&[u8]> {
        let native = self.native();
        // SAFETY: the key lives as long as the message.
        unsafe { bytes(native.key, native.key_len) }
    }

    fn payload(&self) -> Option<&[u8]> {
        let native = self.native();
        // SAFETY: the value lives as long as the message.
        unsafe { bytes(native.payload, native.len) }
    }

    unsafe fn payload_mut(&mut self) -> Option<&mut [u8]> {
        let native = self.native();
        (!native.payload.is_null())
            // SAFETY: the value lives as long as the message, borrowed mutably here.
            .then(|| unsafe { std::slice::from_raw_parts_mut(native.payload.cast(), native.len) })
    }

    fn topic(&self) -> &str {
        // SAFETY: the topic handle and its name live as long as the message.
        let name = unsafe { CStr::from_ptr(rdsys::rd_kafka_topic_name(self.native().rkt)) };
        name.to_str().expect("topic names are ASCII")
    }

    fn partition(&self) -> i32 {
        self.native().partition
    }

    fn offset(&self) -> i64 {
        self.native().offset
    }

    fn timestamp(&self) -> Timestamp {
        use rdsys::rd_kafka_timestamp_type_t::{
            RD_KAFKA_TIMESTAMP_CREATE_TIME, RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME,
        };
        let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: a live message; librdkafka writes the type it returns the timestamp of.
        let ms = unsafe { rdsys::rd_kafka_message_timestamp(self.ptr, &mut kind) };
        match kind {
            _ if ms < 0 => Timestamp::NotAvailable,
            RD_KAFKA_TIMESTAMP_CREATE_TIME => Timestamp::CreateTime(ms),
            RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME => Timestamp::LogAppendTime(ms),
            _ => Timestamp::NotAvailable,
        }
    }

    fn headers(&self) -> Option<&BorrowedHeaders> {
        let mut headers = std::ptr::null_mut();
        // SAFETY: a live message; the list librdkafka parses stays with it.
        let code = unsafe { rdsys::rd_kafka_message_headers(self.ptr, &mut headers) };
        (code == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && !headers.is_null())
            // SAFETY: rdkafka's `BorrowedHeaders` is a view whose address is the C list's
            // (rdkafka builds it with the same cast), living as long as the message.
            .then(|| unsafe { &*headers.cast::<BorrowedHeaders>() })
    }
}

/// A handle on a partition's queue of its consumer, destroyed on drop; it must be dropped
/// before the consumer's client.
pub(crate) struct QueueHandle(*mut rdsys::rd_kafka_queue_t);

// SAFETY: librdkafka's queue handles may be used from any thread; this one is used by one
// partition task at a time (behind the partition queue's mutex).
unsafe impl Send for QueueHandle {}
// SAFETY: as above.
unsafe impl Sync for QueueHandle {}

impl Drop for QueueHandle {
    fn drop(&mut self) {
        // SAFETY: the handle was created for this value and is destroyed once. It does not
        // own the queue: the queue lives on with its partition.
        unsafe { rdsys::rd_kafka_queue_destroy(self.0) }
    }
}

impl QueueHandle {
    /// A new handle on the queue of `topic`'s `partition` in `consumer`: the queue
    /// `split_partition_queue` split, when taken right after it.
    pub fn of_partition(consumer: &ListenerConsumer, topic: &str, partition: i32) -> Self {
        let topic = CString::new(topic).expect("topic names have no NUL");
        // SAFETY: a live client; librdkafka returns a new reference to the partition's
        // queue, never null.
        let queue = unsafe {
            rdsys::rd_kafka_queue_get_partition(
                consumer.client().native_ptr(),
                topic.as_ptr(),
                partition,
            )
        };
        assert!(!queue.is_null(), "librdkafka returned no partition queue");
        Self(queue)
    }
}

/// A partition's queue read in batches, through its [`QueueHandle`], with the records
/// dequeued and not yet taken, in offset order.
pub(crate) struct BatchReads<'c> {
    queue: &'c QueueHandle,
    buffer: VecDeque<BatchedMessage<'c>>,
    /// Records the next batch call dequeues at most.
    batch: usize,
    /// Records a batch holds at most ([`MAIN_BATCH`], or 1 where records wait).
    most: usize,
    /// The records buffered were dequeued after the partition was revoked (see
    /// `Worker::late`): they are all finished, whatever the revocation.
    late: bool,
}

impl<'c> BatchReads<'c> {
    /// Reads through `queue` in batches of up to [`MAIN_BATCH`] records where `batched`,
    /// else one at a time.
    pub fn new(queue: &'c QueueHandle, batched: bool) -> Self {
        let most = if batched { MAIN_BATCH } else { 1 };
        Self {
            queue,
            buffer: VecDeque::with_capacity(most),
            batch: most,
            most,
            late: false,
        }
    }

    /// The next record ready now, from the buffer or, when it is empty, a new batch, with
    /// whether it was read late (`revoked`, called after a batch call, says whether the
    /// partition is revoked by then); `None` when the queue is empty.
    pub fn next(
        &mut self,
        revoked: impl FnOnce() -> bool,
    ) -> Option<(KafkaResult<Read<'c>>, bool)> {
        if self.buffer.is_empty() {
            self.refill();
            if self.buffer.is_empty() {
                return None;
            }
            // The check before the read and the read are not one step: see `Worker::late`.
            self.late = revoked();
        }
        let message = self.buffer.pop_front()?;
        let read = match message.error() {
            Some(error) => Err(error),
            None => Ok(Read::Batched(message)),
        };
        Some((read, self.late))
    }

    /// Whether records dequeued after the partition's revocation are still buffered: they
    /// are finished before the task returns.
    pub fn late_buffered(&self) -> bool {
        self.late && !self.buffer.is_empty()
    }

    /// Whether records are buffered: they come before anything the stream reads.
    pub fn buffered(&self) -> bool {
        !self.buffer.is_empty()
    }

    fn refill(&mut self) {
        let mut slots = [std::ptr::null_mut(); MAIN_BATCH];
        // SAFETY: `slots` has room for `batch` (at most `MAIN_BATCH`) messages; a zero
        // timeout never blocks.
        let read = unsafe {
            rdsys::rd_kafka_consume_batch_queue(self.queue.0, 0, slots.as_mut_ptr(), self.batch)
        };
        // Nothing read says nothing of the records' size: the batch stays as it is.
        let Ok(read @ 1..) = usize::try_from(read) else {
            return;
        };
        let largest = slots[..read]
            .iter()
            .map(|&ptr| {
                let message = BatchedMessage {
                    ptr,
                    queue: PhantomData,
                };
                let size = message.size();
                self.buffer.push_back(message);
                size
            })
            .max()
            .unwrap_or(0);
        self.batch = next_batch(largest, self.most);
    }
}

/// Records the next batch call dequeues, after a batch whose largest record had `largest`
/// bytes of key and value: about [`BATCH_BYTES`] worth of records that size, 1 to `most`.
fn next_batch(largest: usize, most: usize) -> usize {
    (BATCH_BYTES / largest.max(1)).clamp(1, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_records_are_read_in_full_batches_and_large_ones_one_at_a_time() {
        assert_eq!(
            next_batch(0, MAIN_BATCH),
            MAIN_BATCH,
            "records without key or value"
        );
        assert_eq!(next_batch(100, MAIN_BATCH), MAIN_BATCH);
        assert_eq!(next_batch(BATCH_BYTES / 8, MAIN_BATCH), 8);
        assert_eq!(next_batch(BATCH_BYTES, MAIN_BATCH), 1);
        assert_eq!(
            next_batch(1 << 20, MAIN_BATCH),
            1,
            "records near the size limit"
        );
        assert_eq!(
            next_batch(100, 1),
            1,
            "where records wait for their due time"
        );
    }
}
