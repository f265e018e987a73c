//! The scenarios, one module each: every one ends with the accounting of its keys.

pub mod bad;
pub mod broker_restart;
pub mod dlt_down;
pub mod key_order;
pub mod kill;
pub mod long_wait;
pub mod mock;
pub mod outage;
pub mod poison;
pub mod recovery;
pub mod size;
pub mod storm;
