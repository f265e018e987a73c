//! One lane per key: records of a key run one at a time, in the order they were offered;
//! records of different keys run side by side.
//!
//! ```
//! use retry_core::KeyLanes;
//!
//! let mut lanes = KeyLanes::default();
//! assert_eq!(lanes.offer("a", 1), Some(1)); // a's lane was free: run 1 now
//! assert_eq!(lanes.offer("b", 2), Some(2)); // another key runs beside it
//! assert_eq!(lanes.offer("a", 3), None); // queued behind 1
//! assert_eq!(lanes.done(&"a"), Some(3)); // 1 is done: 3 runs next
//! assert_eq!(lanes.done(&"a"), None); // a's lane is free again
//! assert_eq!((lanes.busy_keys(), lanes.queued()), (1, 0));
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The records of each key that are running or waiting for their turn.
///
/// A key is *busy* from the moment a record of it is handed out to run until
/// [`done`](KeyLanes::done) finds nothing more queued for it. Only busy keys take memory: a
/// lane is dropped as soon as it empties.
#[derive(Debug)]
pub struct KeyLanes<K, T> {
    /// Busy keys, each with the records queued behind the one running.
    lanes: HashMap<K, VecDeque<T>>,
    /// Records queued in all lanes.
    queued: usize,
}

impl<K, T> Default for KeyLanes<K, T> {
    fn default() -> Self {
        Self {
            lanes: HashMap::new(),
            queued: 0,
        }
    }
}

impl<K: Hash + Eq, T> KeyLanes<K, T> {
    /// Offers a record of `key`: returns it to run now when the key is not busy (the key is
    /// busy from now on), or queues it behind the key's records and returns `None`.
    pub fn offer(&mut self, key: K, record: T) -> Option<T> {
        match self.lanes.get_mut(&key) {
            Some(queue) => {
                queue.push_back(record);
                self.queued += 1;
                None
            }
            None => {
                self.lanes.insert(key, VecDeque::new());
                Some(record)
            }
        }
    }

    /// The running record of `key` is done: returns the key's next record to run (the key
    /// stays busy), or `None` and frees the key. Calling it for a key that is not busy
    /// returns `None` and changes nothing.
    pub fn done(&mut self, key: &K) -> Option<T> {
        let queue = self.lanes.get_mut(key)?;
        match queue.pop_front() {
            Some(next) => {
                self.queued -= 1;
                Some(next)
            }
            None => {
                self.lanes.remove(key);
                None
            }
        }
    }

    /// Whether a record of `key` is running.
    pub fn is_busy(&self, key: &K) -> bool {
        self.lanes.contains_key(key)
    }

    /// Keys with a record running.
    pub fn busy_keys(&self) -> usize {
        self.lanes.len()
    }

    /// Records waiting behind a running record of their key.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Forgets every lane (the partition was revoked or read again from an earlier offset):
    /// returns the records that were queued, for the caller to release.
    pub fn clear(&mut self) -> Vec<T> {
        self.queued = 0;
        self.lanes.drain().flat_map(|(_, queue)| queue).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn done_for_a_free_key_changes_nothing() {
        let mut lanes: KeyLanes<u8, u32> = KeyLanes::default();
        assert_eq!(lanes.done(&7), None);
        assert_eq!(lanes.offer(7, 1), Some(1));
        assert_eq!(lanes.done(&7), None);
        assert_eq!(lanes.done(&7), None);
        assert!(!lanes.is_busy(&7));
        assert_eq!(lanes.offer(7, 2), Some(2), "the lane was freed");
    }

    #[test]
    fn clear_returns_the_queued_records_and_frees_every_key() {
        let mut lanes = KeyLanes::default();
        lanes.offer('a', 1);
        lanes.offer('a', 2);
        lanes.offer('b', 3);
        lanes.offer('b', 4);
        let mut left = lanes.clear();
        left.sort();
        assert_eq!(left, [2, 4], "the running ones are the caller's");
        assert_eq!((lanes.busy_keys(), lanes.queued()), (0, 0));
        assert_eq!(lanes.offer('a', 5), Some(5));
    }

    proptest! {
        /// Records offered in any interleaving of keys, finished in any order the lanes allow:
        /// at most one record of a key runs at a time, a key's records run in the order they
        /// were offered, every record runs exactly once, and nothing is left busy at the end.
        #[test]
        fn one_at_a_time_per_key_in_offer_order(
            keys in proptest::collection::vec(0u8..6, 1..200),
            picks in proptest::collection::vec(any::<usize>(), 200),
        ) {
            let mut lanes = KeyLanes::default();
            let mut running: Vec<(u8, usize)> = Vec::new();
            let mut ran: Vec<(u8, usize)> = Vec::new();
            let mut picks = picks.into_iter().cycle();
            let mut offered = keys.iter().copied().enumerate();
            loop {
                // Offer the next record, or finish a running one, as the picks say.
                let offer = running.is_empty() || picks.next().unwrap() % 2 == 0;
                let next_offer = if offer { offered.next() } else { None };
                if let Some((index, key)) = next_offer {
                    if let Some(record) = lanes.offer(key, index) {
                        prop_assert!(running.iter().all(|(k, _)| *k != key), "key {key} overlaps");
                        running.push((key, record));
                        ran.push((key, record));
                    }
                } else if !running.is_empty() {
                    let (key, _) = running.remove(picks.next().unwrap() % running.len());
                    if let Some(record) = lanes.done(&key) {
                        running.push((key, record));
                        ran.push((key, record));
                    }
                } else {
                    break;
                }
            }
            prop_assert_eq!(ran.len(), keys.len(), "every record ran once");
            for key in 0u8..6 {
                let order: Vec<usize> = ran.iter().filter(|(k, _)| *k == key).map(|(_, i)| *i).collect();
                prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "key {key}: {order:?}");
            }
            prop_assert_eq!((lanes.busy_keys(), lanes.queued()), (0, 0));
        }
    }
}
