//! The pure parts of `ordering = "key"` (design/key-order.md): which record of a key runs
//! next, and which finished records a commit lists beyond its offset.

mod finished;
mod lanes;

pub use finished::FinishedAbove;
pub use lanes::KeyLanes;
